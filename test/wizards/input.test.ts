// The wizard's input schema: field-level errors, mode rules, and refusal of anything that could inject a shell
// word or an option into the commands a plan prints or the agent runs.
import { describe, expect, it } from "vitest";

import { parseWizardInput } from "@/server/wizards/input";

import { draft } from "./fixtures";

const errorsOf = (d: unknown) => {
  const r = parseWizardInput(d);
  if (r.ok) throw new Error("expected the input to be refused");
  return r.errors;
};

describe("wizard input", () => {
  it("accepts a DR input and fills the defaults", () => {
    const r = parseWizardInput(draft("dr"));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.input).toMatchObject({ protocol: "tcp", scheduler: "wrr", persistence: null, confirmTimeoutSeconds: 60, verify: { probes: 6, path: "/" } });
    expect(r.input.realServers[0]!.interface).toBe("eth0");
  });

  it("reports each bad field at its path", () => {
    const e = errorsOf(draft("dr", { vip: "192.0.2.300", ports: [0, 70000], realServers: [{ address: "192.0.2.11", weight: -1 }] }));
    expect(Object.keys(e).sort()).toEqual(["ports.0", "ports.1", "realServers.0.weight", "vip"]);
    expect(e["ports.0"]![0]).toMatch(/1\.\.65535/);
    expect(e.vip![0]).toMatch(/IPv4/);
  });

  it("refuses an unknown scheduler by name", () => {
    expect(errorsOf(draft("dr", { scheduler: "evil" as "rr" })).scheduler![0]).toMatch(/unknown scheduler/);
  });

  it("refuses port mapping in DR and TUN, allows it in NAT", () => {
    const rs = [{ address: "192.0.2.11", port: 8080, weight: 1 }];
    expect(errorsOf(draft("dr", { realServers: rs }))["realServers.0.port"]![0]).toMatch(/only NAT maps ports/);
    expect(errorsOf(draft("tun", { realServers: rs }))["realServers.0.port"]).toBeDefined();
    expect(parseWizardInput(draft("nat", { realServers: [{ address: "198.51.100.11", port: 8080, weight: 1 }] })).ok).toBe(true);
  });

  it("needs the inner interface for NAT and the SNAT address for FULLNAT", () => {
    expect(errorsOf(draft("nat", { director: { interface: "eth0" } }))["director.innerInterface"]).toBeDefined();
    expect(errorsOf(draft("fullnat", { director: { interface: "eth0", innerInterface: "eth1" } }))["director.snatAddress"]).toBeDefined();
  });

  it("refuses the VIP as a real server and duplicates", () => {
    const e = errorsOf(draft("dr", { realServers: [{ address: "192.0.2.100", weight: 1 }, { address: "192.0.2.11", weight: 1 }, { address: "192.0.2.11", weight: 1 }] }));
    expect(e["realServers.0.address"]![0]).toMatch(/VIP/);
    expect(e["realServers.2.address"]![0]).toMatch(/twice/);
  });

  describe("injection", () => {
    const ifnames = ["eth0; rm -rf /", "-x", "--help", "eth0 up", "$(reboot)", "`id`", "eth0\nip link del eth0", "a'b", 'a"b', "../../etc", "..", "averyveryverylongname0", ""];
    for (const bad of ifnames) {
      it(`refuses interface name ${JSON.stringify(bad)} on the director and on a real server`, () => {
        expect(errorsOf(draft("dr", { director: { interface: bad } }))["director.interface"]).toBeDefined();
        expect(errorsOf(draft("dr", { realServers: [{ address: "192.0.2.11", weight: 1, interface: bad }] }))["realServers.0.interface"]).toBeDefined();
      });
    }
    const addresses = ["192.0.2.1; reboot", "-1.2.3.4", "192.0.2.1 -x", "0x7f.0.0.1", "192.0.2.1/24", "::1", "1.2.3", "127.0.0.1", "224.0.0.1", "0.0.0.0"];
    for (const bad of addresses) {
      it(`refuses address ${JSON.stringify(bad)}`, () => {
        expect(errorsOf(draft("dr", { vip: bad })).vip).toBeDefined();
        expect(errorsOf(draft("dr", { realServers: [{ address: bad, weight: 1 }] }))["realServers.0.address"]).toBeDefined();
      });
    }
    it("refuses a probe namespace or path that is not a plain name", () => {
      for (const ns of ["-n", "a b", "x;id", "../x", "$x"]) expect(errorsOf(draft("dr", { verify: { fromNetns: ns } }))["verify.fromNetns"]).toBeDefined();
      for (const path of ["x", "/a b", "/$(id)", "/a;b", "/a'b", "/%0a"]) expect(errorsOf(draft("dr", { verify: { path } }))["verify.path"]).toBeDefined();
    });
    it("refuses keys it does not know (strict objects)", () => {
      expect(errorsOf({ ...draft("dr"), command: "id" })["(form)"]).toBeDefined();
      expect(errorsOf(draft("dr", { director: { interface: "eth0", extra: 1 } as never }))["director"]).toBeDefined();
    });
  });
});
