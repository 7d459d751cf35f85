// The IPVS netlink client against the real kernel (lab guest only: npx tsx lab/host/cli.ts test
// test/kernel/ipvs-netlink.test.ts). The oracle is Debian's ipvsadm, in two directions:
//   - rules created through IpvsClient in this namespace print, with `ipvsadm-save -n`, exactly what the same
//     rules print when ipvsadm-restore creates them in a second network namespace (IPVS is per netns);
//   - a table created by ipvsadm-restore comes back from IpvsClient.snapshot() identical, and formats to the
//     text ipvsadm-save prints for it.
// Plus timeouts vs `ipvsadm -L --timeout`, daemons vs `ipvsadm -L --daemon`, zero vs `--stats --exact`, and
// the kernel's errors as IpvsError kinds. One node process; shell work goes through one `sh` per step.
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openIpvsClient, openIpvsSnapshotClient } from "@/server/kernel/genl/ipvs";
import { readIpvsSnapshotData } from "@/server/ipvs/snapshot/agent";
import { IpvsError, type IpvsClient } from "@/server/ipvs/netlink/client";
import { ipvsadmSaveText } from "@/server/ipvs/snapshot/rules";
import type { DestinationConfig, ServiceConfig, ServiceWithDestinations } from "@/server/ipvs/netlink/types";

const REF_NS = "nlref";
const sh = (script: string, input?: string): string => execFileSync("sh", ["-c", script], { encoding: "utf8", input });
const inRef = (script: string, input?: string) => sh(`ip netns exec ${REF_NS} sh -c '${script}'`, input);

/** Restores `rules` into the reference namespace and returns what ipvsadm prints there. */
function reference(rules: string): { save: string; list: string; thresholds: string } {
  const out = inRef("ipvsadm -C && ipvsadm-restore && ipvsadm-save -n && echo @@ && ipvsadm -Ln && echo @@ && ipvsadm -Ln --thresholds", rules);
  const [save, list, thresholds] = out.split("@@\n") as [string, string, string];
  return { save, list, thresholds };
}

function here(): { save: string; list: string; thresholds: string } {
  const [save, list, thresholds] = sh("ipvsadm-save -n && echo @@ && ipvsadm -Ln && echo @@ && ipvsadm -Ln --thresholds").split("@@\n") as [string, string, string];
  return { save, list, thresholds };
}

const tcp = (address: string, port: number) => ({ family: "inet" as const, protocol: "tcp" as const, address, port });

// ---- the matrix: each entry is what IpvsClient is asked to create, and the ipvsadm rules that mean the same --
interface Entry {
  svc: ServiceConfig;
  dests: DestinationConfig[];
  rules: string[];
}

// Every scheduler module of the lab kernel (Debian 6.1): "twos" is not among them (NEW_SERVICE -> ENOENT).
const SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] as const;

const matrix: Entry[] = [
  // every scheduler module, one TCP service each, a NAT real server on each
  ...SCHEDULERS.map((s, i) => ({
    svc: { service: tcp("192.0.2.10", 8001 + i), scheduler: s },
    dests: [{ address: "198.51.100.2", port: 8080, forward: "masq" as const, weight: i + 1 }],
    rules: [`-A -t 192.0.2.10:${8001 + i} -s ${s}`, `-a -t 192.0.2.10:${8001 + i} -r 198.51.100.2:8080 -m -w ${i + 1}`],
  })),
  // every forwarding method and tunnel type; weight 0, a large weight, thresholds; persistence with a netmask
  {
    svc: { service: { ...tcp("192.0.2.10", 80), netmask: { kind: "mask", mask: "255.255.255.0" } }, scheduler: "wlc", persistent: true, timeout: 600 },
    dests: [
      { address: "198.51.100.2", port: 80, forward: "masq", weight: 0, upperThreshold: 100, lowerThreshold: 10 },
      { address: "198.51.100.3", port: 80, forward: "route", weight: 2147483647 },
      { address: "198.51.100.4", port: 80, forward: "tunnel", weight: 3, tunnel: { type: "ipip" } },
      { address: "198.51.100.5", port: 80, forward: "tunnel", weight: 4, tunnel: { type: "gue", port: 6080, csum: true } },
      { address: "198.51.100.6", port: 80, forward: "tunnel", weight: 5, tunnel: { type: "gre" } },
      { address: "198.51.100.7", port: 80, forward: "tunnel", weight: 6, tunnel: { type: "gue", port: 6081, remcsum: true } },
      { address: "198.51.100.8", port: 80, forward: "tunnel", weight: 7, tunnel: { type: "gre", csum: true } },
    ],
    rules: [
      "-A -t 192.0.2.10:80 -s wlc -p 600 -M 255.255.255.0",
      "-a -t 192.0.2.10:80 -r 198.51.100.2:80 -m -w 0 -x 100 -y 10",
      "-a -t 192.0.2.10:80 -r 198.51.100.3:80 -g -w 2147483647",
      "-a -t 192.0.2.10:80 -r 198.51.100.4:80 -i -w 3 --tun-type ipip",
      "-a -t 192.0.2.10:80 -r 198.51.100.5:80 -i -w 4 --tun-type gue --tun-port 6080 --tun-csum",
      "-a -t 192.0.2.10:80 -r 198.51.100.6:80 -i -w 5 --tun-type gre --tun-nocsum",
      "-a -t 192.0.2.10:80 -r 198.51.100.7:80 -i -w 6 --tun-type gue --tun-port 6081 --tun-remcsum",
      "-a -t 192.0.2.10:80 -r 198.51.100.8:80 -i -w 7 --tun-type gre --tun-csum",
    ],
  },
  // UDP with sh's flags and one-packet scheduling
  {
    svc: { service: { family: "inet", protocol: "udp", address: "192.0.2.10", port: 53 }, scheduler: "sh", onePacket: true, sched1: true, sched2: true },
    dests: [{ address: "198.51.100.2", port: 53, forward: "route", weight: 1 }],
    rules: ["-A -u 192.0.2.10:53 -s sh -o -b sh-fallback,sh-port", "-a -u 192.0.2.10:53 -r 198.51.100.2:53 -g -w 1"],
  },
  // SCTP, mh with its port flag
  {
    svc: { service: { family: "inet", protocol: "sctp", address: "192.0.2.10", port: 5000 }, scheduler: "mh", sched2: true },
    dests: [{ address: "198.51.100.8", port: 5000, forward: "masq", weight: 2 }],
    rules: ["-A --sctp-service 192.0.2.10:5000 -s mh -b mh-port", "-a --sctp-service 192.0.2.10:5000 -r 198.51.100.8:5000 -m -w 2"],
  },
  // a persistence engine
  {
    svc: { service: { family: "inet", protocol: "udp", address: "192.0.2.10", port: 5060 }, scheduler: "rr", persistent: true, timeout: 60, persistenceEngine: "sip" },
    dests: [],
    rules: ["-A -u 192.0.2.10:5060 -s rr -p 60 --pe sip"],
  },
  // IPv6 (IPv4-mapped VIP; real servers on loopback and IPv4-compatible addresses), persistence by prefix
  {
    svc: { service: { family: "inet6", protocol: "tcp", address: "::ffff:192.0.2.20", port: 443, netmask: { kind: "prefix", prefix: 64 } }, scheduler: "rr", persistent: true, timeout: 120 },
    dests: [
      { address: "::1", port: 8443, forward: "masq", weight: 1 },
      { address: "::198.51.100.2", port: 443, forward: "route", weight: 2 },
    ],
    rules: ["-A -t [::ffff:192.0.2.20]:443 -s rr -p 120 -M 64", "-a -t [::ffff:192.0.2.20]:443 -r [::1]:8443 -m -w 1", "-a -t [::ffff:192.0.2.20]:443 -r [::198.51.100.2]:443 -g -w 2"],
  },
  // firewall marks, IPv4 and IPv6
  {
    svc: { service: { family: "inet", fwmark: 7 }, scheduler: "wlc" },
    dests: [{ address: "198.51.100.9", port: 0, forward: "route", weight: 1 }],
    rules: ["-A -f 7 -s wlc", "-a -f 7 -r 198.51.100.9:0 -g -w 1"],
  },
  {
    svc: { service: { family: "inet6", fwmark: 8 }, scheduler: "rr", persistent: true, timeout: 30 },
    dests: [],
    rules: ["-A -f 8 -6 -s rr -p 30"],
  },
];

const allRules = matrix.flatMap((e) => e.rules).join("\n") + "\n";
const sorted = (text: string) => text.split("\n").filter(Boolean).sort();

let ipvs: IpvsClient;

beforeAll(() => {
  sh(`ip link set lo up
ipvsadm -C
ip netns add ${REF_NS}
ip netns exec ${REF_NS} ip link set lo up
ip link add nld0 type dummy && ip link set nld0 up && ip addr add 198.51.100.1/24 dev nld0 && ip addr add 192.0.2.10/32 dev nld0
ip link add nlv0 type veth peer name nlv1 && ip link set nlv0 up && ip link set nlv1 up`);
  ipvs = openIpvsClient();
});

afterAll(() => {
  ipvs?.close();
  // Leave the namespace as a fresh one: no rules, no daemons, the kernel's default timeouts.
  sh(`ipvsadm -C; ipvsadm --set 900 120 300; ipvsadm --stop-daemon master 2>/dev/null; ipvsadm --stop-daemon backup 2>/dev/null
ip netns del ${REF_NS}; ip link del nld0; ip link del nlv0; true`);
});

describe("IPVS netlink client vs ipvsadm, real kernel", () => {
  let created: ServiceWithDestinations[] = [];

  it("reports the kernel's IPVS version and table size as ipvsadm does", async () => {
    const info = await ipvs.getInfo();
    const head = sh("ipvsadm -Ln | head -1").trim();
    expect(head).toBe(`IP Virtual Server version ${info.version} (size=${info.connTableSize})`);
  });

  it("creates the matrix; ipvsadm-save prints what ipvsadm-restore of the same rules prints in another netns", async () => {
    await ipvs.flush();
    for (const e of matrix) {
      await ipvs.newService(e.svc);
      for (const d of e.dests) await ipvs.newDest(e.svc.service, d);
    }
    created = await ipvs.snapshot();
    const mine = here();
    const ref = reference(allRules);
    expect(mine.save).toBe(ref.save);
    expect(mine.list).toBe(ref.list);
    expect(mine.thresholds).toBe(ref.thresholds);
    // and the rules are the ones written above, line for line (ipvsadm-save does not print thresholds)
    expect(sorted(mine.save)).toEqual(sorted(allRules.replace(/ -x \d+ -y \d+/g, "")));
    // the snapshot of what the client created formats back to the same text
    expect(ipvsadmSaveText(created)).toBe(mine.save);
  });

  it("reads back a table made by ipvsadm-restore identically (snapshot)", async () => {
    expect(created.length).toBe(matrix.length);
    sh("ipvsadm -C");
    sh("ipvsadm-restore", allRules);
    const restored = await ipvs.snapshot();
    expect(ipvsadmSaveText(restored)).toBe(sh("ipvsadm-save -n"));
    const key = (t: ServiceWithDestinations[]) => JSON.stringify(t, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    expect(key(restored)).toBe(key(created));
    // fields ipvsadm-save does not print, checked against what was asked for
    const web = restored.find((s) => "port" in s.service && s.service.port === 80 && s.service.protocol === "tcp")!;
    expect(web.flags).toMatchObject({ persistent: true, hashed: true });
    expect(web.timeout).toBe(600);
    expect(web.service.netmask).toEqual({ kind: "mask", mask: "255.255.255.0" });
    const nat = web.destinations.find((d) => d.address === "198.51.100.2")!;
    expect(nat).toMatchObject({ forward: "masq", weight: 0, upperThreshold: 100, lowerThreshold: 10, family: "inet" });
    expect(web.destinations.find((d) => d.address === "198.51.100.3")!.weight).toBe(2147483647);
    expect(web.destinations.find((d) => d.address === "198.51.100.5")!.tunnel).toEqual({ type: "gue", port: 6080, csum: true, remcsum: false, rawFlags: 1 });
    const v6 = restored.find((s) => s.service.family === "inet6" && "address" in s.service)!;
    expect(v6.service).toEqual({ family: "inet6", protocol: "tcp", address: "::ffff:192.0.2.20", port: 443, netmask: { kind: "prefix", prefix: 64 } });
  });

  it("the agent's ipvs.snapshot (the shared snapshot transport) reads the same table, timeouts and version; 300 more services too", async () => {
    const data = await readIpvsSnapshotData(openIpvsSnapshotClient);
    if (!data.available) throw new Error(data.reason);
    const snap = data.snapshot;
    expect(ipvsadmSaveText(snap.services)).toBe(sh("ipvsadm-save -n"));
    expect(`Timeout (tcp tcpfin udp): ${snap.timeouts.tcp} ${snap.timeouts.tcpFin} ${snap.timeouts.udp}`).toBe(sh("ipvsadm -L --timeout").trim());
    expect(sh("ipvsadm -Ln | head -1").trim()).toBe(`IP Virtual Server version ${snap.info.version} (size=${snap.info.connTableSize})`);
    expect(snap.daemons).toEqual([]);
    // many dumps at once over the shared transport's sockets, still ipvsadm's text
    const more = Array.from({ length: 300 }, (_, i) => `-A -t 203.0.113.${1 + (i % 250)}:${2000 + Math.floor(i / 250)} -s rr\n-a -t 203.0.113.${1 + (i % 250)}:${2000 + Math.floor(i / 250)} -r 198.51.100.${2 + (i % 7)}:80 -g -w ${i}\n`).join("");
    sh("ipvsadm-restore", more); // (ipvsadm-restore replaces the table)
    const big = await readIpvsSnapshotData(openIpvsSnapshotClient);
    if (!big.available) throw new Error(big.reason);
    expect(big.snapshot.services.length).toBe(300);
    expect(big.snapshot.services.reduce((n, s) => n + s.destinations.length, 0)).toBe(300);
    expect(ipvsadmSaveText(big.snapshot.services)).toBe(sh("ipvsadm-save -n"));
    // back to the table the tests after this one expect
    sh("ipvsadm -C");
    sh("ipvsadm-restore", allRules);
  }, 120_000);

  it("sets the local forwarding method, which ipvsadm cannot, and ipvsadm lists it as Local", async () => {
    const svc = tcp("192.0.2.10", 9000);
    await ipvs.newService({ service: svc, scheduler: "rr" });
    await ipvs.newDest(svc, { address: "127.0.0.1", port: 9000, forward: "local", weight: 1 });
    expect(sh("ipvsadm -Ln -t 192.0.2.10:9000")).toMatch(/-> 127\.0\.0\.1:9000\s+Local\s+1\s/);
    expect((await ipvs.listDestinations(svc))[0]).toMatchObject({ forward: "local", address: "127.0.0.1" });
    await ipvs.delService(svc);
  });

  it("edits and deletes services and destinations", async () => {
    const svc = tcp("192.0.2.10", 8001);
    await ipvs.setService({ service: svc, scheduler: "wlc", persistent: true, timeout: 90 });
    await ipvs.setDest(svc, { address: "198.51.100.2", port: 8080, forward: "route", weight: 9, upperThreshold: 7, lowerThreshold: 3 });
    expect(sh("ipvsadm-save -n | grep 192.0.2.10:8001")).toBe("-A -t 192.0.2.10:8001 -s wlc -p 90\n-a -t 192.0.2.10:8001 -r 198.51.100.2:8080 -g -w 9\n");
    const got = await ipvs.getService(svc);
    expect(got).toMatchObject({ scheduler: "wlc", timeout: 90, flags: { persistent: true, hashed: true } });
    await ipvs.delDest(svc, { address: "198.51.100.2", port: 8080 });
    expect(await ipvs.listDestinations(svc)).toEqual([]);
    await ipvs.delService(svc);
    expect(sh("ipvsadm-save -n | grep -c 192.0.2.10:8001 || true").trim()).toBe("0");
  });

  it("sets and gets the timeouts as ipvsadm --set / -L --timeout do", async () => {
    await ipvs.setConfig({ tcp: 901, tcpFin: 121, udp: 301 });
    expect(sh("ipvsadm -L --timeout").trim()).toBe("Timeout (tcp tcpfin udp): 901 121 301");
    sh("ipvsadm --set 902 122 302");
    expect(await ipvs.getConfig()).toEqual({ tcp: 902, tcpFin: 122, udp: 302 });
    await ipvs.setConfig({ udp: 55 });
    expect(sh("ipvsadm -L --timeout").trim()).toBe("Timeout (tcp tcpfin udp): 902 122 55");
  });

  it("starts, lists and stops sync daemons as ipvsadm does", async () => {
    await ipvs.newDaemon({ state: "master", mcastInterface: "nlv0", syncId: 5 });
    await ipvs.newDaemon({ state: "backup", mcastInterface: "nlv1", syncId: 6, syncMaxLen: 1400, mcastGroup: "224.0.0.99", mcastPort: 9000, mcastTtl: 2 });
    expect(sh("ipvsadm -L --daemon")).toBe(
      "master sync daemon (mcast=nlv0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
        "backup sync daemon (mcast=nlv1, syncid=6, maxlen=1400, group=224.0.0.99, port=9000, ttl=2)\n",
    );
    await expect(ipvs.newDaemon({ state: "master", mcastInterface: "nlv0", syncId: 5 })).rejects.toMatchObject({ kind: "daemon-running" });
    await ipvs.delDaemon("master");
    await ipvs.delDaemon("backup");
    await expect(ipvs.delDaemon("backup")).rejects.toMatchObject({ kind: "daemon-stopped", message: "no backup sync daemon is running" });
    sh("ipvsadm --start-daemon backup --mcast-interface nlv1 --syncid 9");
    expect(await ipvs.listDaemons()).toEqual([
      { state: "backup", mcastInterface: "nlv1", syncId: 9, syncMaxLen: 1472, mcastGroup: "224.0.0.81", mcastPort: 8848, mcastTtl: 1, unknown: [] },
    ]);
    sh("ipvsadm --stop-daemon backup");
    expect(await ipvs.listDaemons()).toEqual([]);
  });

  it("reads the counters ipvsadm --stats --exact shows, and zeroes one service or all", async () => {
    const udp = { family: "inet" as const, protocol: "udp" as const, address: "192.0.2.10", port: 53 };
    // 20 datagrams to the UDP service (one-packet scheduling: a connection each), DR to a real server behind
    // the dummy interface, where they are dropped.
    // Linux 6.1 folds the per-CPU counters into what netlink and ipvsadm report in its estimator, every 2 s:
    // wait for one run after sending.
    sh("hping3 --udp -q -c 20 -i u2000 -s 40000 -k -p 53 -d 64 192.0.2.10 >/dev/null 2>&1; sleep 3");
    const parse = () => {
      const m = /^UDP\s+192\.0\.2\.10:53\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\n\s+->\s+198\.51\.100\.2:53\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(sh("ipvsadm -Ln --stats --exact"));
      if (!m) throw new Error("no UDP service in ipvsadm --stats");
      return m.slice(1).map((x) => BigInt(x));
    };
    const theirs = parse();
    const svc = await ipvs.getService(udp);
    const [dest] = await ipvs.listDestinations(udp);
    const mine = [svc.stats!, dest!.stats!].flatMap((s) => [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes]);
    expect(mine).toEqual(theirs);
    expect(svc.stats!.width).toBe(64);
    expect(svc.stats!.inPkts).toBeGreaterThan(0n);
    await ipvs.zero(udp);
    expect(parse()).toEqual(new Array(10).fill(0n));
    expect((await ipvs.getService(udp)).stats).toMatchObject({ conns: 0n, inPkts: 0n, inBytes: 0n });
    sh("hping3 --udp -q -c 5 -i u2000 -s 40001 -k -p 53 -d 64 192.0.2.10 >/dev/null 2>&1; sleep 3");
    expect((await ipvs.getService(udp)).stats!.inPkts).toBeGreaterThan(0n);
    await ipvs.zero();
    const all = await ipvs.snapshot();
    expect(all.every((s) => s.stats!.conns === 0n && s.stats!.inPkts === 0n && s.destinations.every((d) => d.stats!.inPkts === 0n))).toBe(true);
  });

  it("maps the kernel's errors to IpvsError kinds with admin-facing messages", async () => {
    const svc = tcp("192.0.2.10", 80);
    const fail = async (p: Promise<unknown>) => {
      const e = await p.then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(IpvsError);
      return e as IpvsError;
    };
    const exists = await fail(ipvs.newService({ service: svc, scheduler: "rr" }));
    expect([exists.kind, exists.message, exists.code]).toEqual(["exists", "service already exists: TCP 192.0.2.10:80", "EEXIST"]);
    const sched = await fail(ipvs.newService({ service: tcp("192.0.2.10", 81), scheduler: "nosuch" }));
    expect([sched.kind, sched.message, sched.code]).toEqual(["scheduler-missing", "scheduler module ip_vs_nosuch not available", "ENOENT"]);
    const missing = await fail(ipvs.delService(tcp("192.0.2.10", 81)));
    expect([missing.kind, missing.message, missing.code]).toEqual(["not-found", "no such service: TCP 192.0.2.10:81", "ESRCH"]);
    expect((await fail(ipvs.getService(tcp("192.0.2.10", 81)))).kind).toBe("not-found");
    expect((await fail(ipvs.setService({ service: tcp("192.0.2.10", 81), scheduler: "rr" }))).kind).toBe("not-found");
    const destExists = await fail(ipvs.newDest(svc, { address: "198.51.100.3", port: 80, forward: "route", weight: 1 }));
    expect([destExists.kind, destExists.message]).toEqual(["exists", "destination already exists: 198.51.100.3:80 in TCP 192.0.2.10:80"]);
    const destMissing = await fail(ipvs.delDest(svc, { address: "198.51.100.77", port: 80 }));
    expect([destMissing.kind, destMissing.message, destMissing.code]).toEqual(["not-found", "no such destination: 198.51.100.77:80 in TCP 192.0.2.10:80", "ENOENT"]);
    const range = await fail(ipvs.newDest(svc, { address: "198.51.100.99", port: 80, forward: "route", weight: 2 ** 31 }));
    expect([range.kind, range.code]).toEqual(["out-of-range", "ERANGE"]);
    const invalid = await fail(ipvs.newDest({ family: "inet6", protocol: "tcp", address: "::ffff:192.0.2.20", port: 443 }, { address: "::ffff:198.51.100.2", port: 443, forward: "masq", weight: 1 }));
    expect([invalid.kind, invalid.code]).toEqual(["invalid", "EINVAL"]);
    expect(invalid.message).toMatch(/^the kernel rejected IPVS_CMD_NEW_DEST as invalid \(TCP \[::ffff:192\.0\.2\.20\]:443, destination \[::ffff:198\.51\.100\.2\]:443\); sent IPVS_CMD_ATTR_SERVICE\{AF\(2\) PROTOCOL\(2\) ADDR\(16\) PORT\(2\)\} IPVS_CMD_ATTR_DEST\{/);
    for (const e of [exists, sched, missing, destExists, destMissing, range, invalid]) expect(e.message).not.toMatch(/\bE[A-Z]{3,}\b|errno/);
  });
});
