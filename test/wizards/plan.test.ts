// Preflight, plan and rendering over a snapshot of a bare lab director (fixtures.ts).
import { describe, expect, it } from "vitest";

import { wizardInput } from "@/server/wizards/input";
import { FULLNAT_NOTE, fullnatTableVip, planWizard } from "@/server/wizards/plan";
import { hasErrors, preflight } from "@/server/wizards/preflight";
import { renderPlan, sh, shq } from "@/server/wizards/render";

import { bareDirector, draft } from "./fixtures";

const input = (d: Parameters<typeof wizardInput.parse>[0]) => wizardInput.parse(d);

describe("preflight", () => {
  it("finds nothing wrong with DR on a bare director", () => {
    const p = preflight(input(draft("dr")), bareDirector());
    expect(p.filter((x) => x.severity !== "info")).toEqual([]);
    expect(p.some((x) => /arp_ignore=1/.test(x.message))).toBe(true);
  });

  it("DR: a real server off the director's segment is an error at its field", () => {
    const p = preflight(input(draft("dr", { realServers: [{ address: "203.0.113.9", weight: 1 }] })), bareDirector());
    expect(p).toContainEqual(expect.objectContaining({ severity: "error", field: "realServers.0.address", message: expect.stringMatching(/one L2 segment/) }));
  });

  it("NAT: warns that ip_forward will be set, requires the real servers on the inner network", () => {
    const p = preflight(input(draft("nat", { realServers: [{ address: "192.0.2.11", weight: 1 }] })), bareDirector({ inner: true }));
    expect(p).toContainEqual(expect.objectContaining({ severity: "warning", message: expect.stringMatching(/ip_forward is 0/) }));
    expect(p).toContainEqual(expect.objectContaining({ severity: "error", field: "realServers.0.address" }));
  });

  it("refuses a service that exists, the DIP as a DR VIP, a missing scheduler module, a missing interface", () => {
    const state = bareDirector();
    const planned = planWizard(input(draft("dr")), state);
    const svc = planned.director.find((s) => s.kind === "ipvs" && s.step.op === "add-service");
    if (!svc || svc.kind !== "ipvs" || svc.step.op !== "add-service") throw new Error("no add-service step");
    state.ipvs!.services.push({ ...svc.step.service, destinations: [] });
    state.modules.ip_vs_wrr = "missing";
    const p = preflight(input(draft("dr", { vip: "192.0.2.1", director: { interface: "eth9" } })), state);
    const fields = p.filter((x) => x.severity === "error").map((x) => x.field);
    expect(fields).toEqual(expect.arrayContaining(["vip", "scheduler", "director.interface"]));
    expect(hasErrors(preflight(input(draft("dr")), state))).toBe(true);
    expect(preflight(input(draft("dr")), state)).toContainEqual(expect.objectContaining({ field: "ports.0", message: expect.stringMatching(/already has TCP 192.0.2.100:80/) }));
  });

  it("FULLNAT: the SNAT address must be the director's own inner address", () => {
    const p = preflight(input(draft("fullnat", { director: { interface: "eth0", innerInterface: "eth1", snatAddress: "198.51.100.7" } })), bareDirector({ inner: true }));
    expect(p).toContainEqual(expect.objectContaining({ severity: "error", field: "director.snatAddress" }));
  });

  it("IPVS reports nothing: the state is an error, not an exception", () => {
    const p = preflight(input(draft("dr")), { ...bareDirector(), ipvs: null, ipvsReason: "the ip_vs module is not loaded" });
    expect(p[0]).toMatchObject({ severity: "error", message: expect.stringMatching(/ip_vs module is not loaded/) });
  });
});

describe("plan", () => {
  it("DR: VIP on the director, service, real servers in order; the real servers get lo + ARP suppression", () => {
    const plan = planWizard(input(draft("dr")), bareDirector());
    expect(plan.director.map((s) => (s.kind === "ipvs" ? s.step.op : s.kind))).toEqual(["address", "add-service", "add-dest", "add-dest"]);
    const r = renderPlan(plan);
    expect(r.director.map((d) => d.shell)).toEqual([
      "ip address add 192.0.2.100/32 dev eth0",
      "ipvsadm -A -t 192.0.2.100:80 -s wrr",
      "ipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
      "ipvsadm -a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
    ]);
    expect(r.director[0]!.diff).toEqual({ op: "+", text: "eth0: inet 192.0.2.100/32" });
    expect(r.realServers[0]!.script).toContain("sysctl -w net.ipv4.conf.all.arp_ignore=1\n");
    expect(r.realServers[0]!.script).toContain("sysctl -w net.ipv4.conf.eth0.arp_announce=2\n");
    // ARP suppression before the VIP appears.
    expect(r.realServers[0]!.script.indexOf("arp_announce")).toBeLessThan(r.realServers[0]!.script.indexOf("ip address replace 192.0.2.100/32 dev lo"));
  });

  it("NAT: ip_forward first, real servers masqueraded with port mapping, their gateway the DIP", () => {
    const plan = planWizard(input(draft("nat", { realServers: [{ address: "198.51.100.11", port: 8080, weight: 3 }] })), bareDirector({ inner: true }));
    const r = renderPlan(plan);
    expect(r.director[0]!.shell).toBe("sysctl -w net.ipv4.ip_forward=1");
    expect(r.director.at(-1)!.shell).toBe("ipvsadm -a -t 192.0.2.100:80 -r 198.51.100.11:8080 -m -w 3");
    expect(r.realServers[0]!.script).toContain("ip route replace default via 198.51.100.1\n");
  });

  it("TUN: ipip, tunl0 with the VIP, rp_filter 0 on the real servers; -i on the director", () => {
    const r = renderPlan(planWizard(input(draft("tun")), bareDirector()));
    const s = r.realServers[0]!.script;
    for (const line of ["modprobe ipip", "ip link set dev tunl0 up", "ip address replace 192.0.2.100/32 dev tunl0", "sysctl -w net.ipv4.conf.tunl0.rp_filter=0", "sysctl -w net.ipv4.conf.all.rp_filter=0"]) expect(s).toContain(line);
    expect(r.director.at(-1)!.shell).toMatch(/ -i -w 2 --tun-type ipip$/);
  });

  it("FULLNAT: conntrack and the SNAT table before IPVS, and it says the real servers see the director", () => {
    const plan = planWizard(input(draft("fullnat")), bareDirector({ inner: true }));
    expect(plan.director.map((s) => (s.kind === "sysctl" ? s.key : s.kind))).toEqual(["net.ipv4.ip_forward", "net.ipv4.vs.conntrack", "address", "nft-snat", "ipvs", "ipvs", "ipvs"]);
    const r = renderPlan(plan);
    expect(r.notes).toContain(FULLNAT_NOTE);
    expect(FULLNAT_NOTE).toMatch(/see the director's address, not the client's/);
    expect(r.director[3]!.shell).toContain('oifname "eth1" ip daddr { 198.51.100.11, 198.51.100.12 } snat to 198.51.100.1');
    expect(r.realServers[0]!.script).toContain("# nothing to change");
  });

  it("FULLNAT: the SNAT table's name gives its VIP back (live diagnostics tell FULLNAT from NAT by it)", () => {
    const table = planWizard(input(draft("fullnat")), bareDirector({ inner: true })).director.find((s) => s.kind === "nft-snat");
    expect(table?.kind === "nft-snat" && fullnatTableVip(`ip ${table.table}`)).toBe("192.0.2.100");
    for (const other of ["ip nat", "inet lvsdash_fullnat_192_0_2_100", "ip lvsdash_fullnat_192_0_2", "ip lvsdash_fullnat_192_0_2_100_1"]) expect(fullnatTableVip(other)).toBeNull();
  });

  it("leaves out what is already there, and the fingerprint follows the director's state", () => {
    const state = bareDirector({ inner: true });
    const a = planWizard(input(draft("nat")), state);
    state.sysctls["net.ipv4.ip_forward"] = "1";
    state.addresses.push({ ifname: "eth0", address: "192.0.2.100", prefixLen: 32 });
    const b = planWizard(input(draft("nat")), state);
    expect(b.director.some((s) => s.kind === "sysctl" || s.kind === "address")).toBe(false);
    expect(b.fingerprint).not.toBe(a.fingerprint);
  });

  it("a VLAN interface name is written with / in sysctl keys (procps reads that unambiguously)", () => {
    const r = renderPlan(planWizard(input(draft("dr", { realServers: [{ address: "192.0.2.11", weight: 1, interface: "eth0.100" }] })), bareDirector()));
    expect(r.realServers[0]!.script).toContain("sysctl -w net/ipv4/conf/eth0.100/arp_ignore=1");
  });
});

describe("shell quoting", () => {
  it("leaves plain words and quotes everything else", () => {
    expect(shq("192.0.2.1/32")).toBe("192.0.2.1/32");
    expect(shq("eth0; rm -rf /")).toBe("'eth0; rm -rf /'");
    expect(shq("a'b")).toBe("'a'\\''b'");
    expect(shq("$(id)")).toBe("'$(id)'");
  });
  it("a command's values are quoted, and a value that would read as an option is refused", () => {
    expect(sh`ip link set dev ${"eth0; reboot"} up`).toBe("ip link set dev 'eth0; reboot' up");
    expect(() => sh`ip link set dev ${"-x"} up`).toThrow(/refused/);
    expect(() => sh`modprobe ${""}`).toThrow(/refused/);
  });
});
