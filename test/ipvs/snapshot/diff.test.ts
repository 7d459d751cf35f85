// diffSnapshots: every kind of change, field by field; what it ignores (counters, connection counts, the
// kernel-owned HASHED flag, the form an IPv6 address is written in, tunnel settings of non-tunnels).
import { describe, expect, it } from "vitest";
import { describeChange, diffSnapshots, type SnapshotChange } from "@/server/ipvs/snapshot/diff";
import type { TableState } from "@/server/ipvs/snapshot/model";
import { state } from "./helpers";

const BASE = `-A -t 192.0.2.1:80 -s wlc
-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1
-a -t 192.0.2.1:80 -r 192.0.2.12:80 -g -w 2
-A -u 192.0.2.1:53 -s rr
-a -u 192.0.2.1:53 -r 198.51.100.2:5353 -m -w 1
-A -t 192.0.2.2:80 -s lc
-a -t 192.0.2.2:80 -r 203.0.113.5:80 -i --tun-type gue --tun-port 6080
`;
const base = () => state(BASE);
const kinds = (c: SnapshotChange[]) => c.map((x) => x.kind);
const fieldsOf = (c: SnapshotChange | undefined) => (c && "fields" in c ? c.fields : undefined);

describe("diffSnapshots", () => {
  it("finds nothing between equal tables", () => {
    expect(diffSnapshots(base(), base())).toEqual([]);
  });

  it("ignores counters, rates, connection counts, HASHED and unknown attributes", () => {
    const a = base();
    const b = base();
    const s = b.services[0]!;
    s.stats = { conns: 5n, inPkts: 9n, outPkts: 0n, inBytes: 900n, outBytes: 0n, cps: 1n, inPps: 2n, outPps: 0n, inBps: 3n, outBps: 0n, width: 64 };
    s.flags = { ...s.flags, hashed: false, raw: 0 };
    s.unknown = [{ type: 77, nested: false, value: new Uint8Array([1]) }];
    Object.assign(s.destinations[0]!, { activeConns: 3, inactiveConns: 4, persistentConns: 5 });
    expect(diffSnapshots(a, b)).toEqual([]);
  });

  it("service added and removed (with their real servers)", () => {
    const after = state(BASE.replace("-A -t 192.0.2.2:80 -s lc\n-a -t 192.0.2.2:80 -r 203.0.113.5:80 -i --tun-type gue --tun-port 6080\n", "-A -f 7 -s rr\n-a -f 7 -r 192.0.2.20:0 -g -w 1\n"));
    const c = diffSnapshots(base(), after);
    expect(kinds(c)).toEqual(["service-added", "service-removed"]);
    expect(c.map(describeChange)).toEqual(["+ service FWM 7 (rr, 1 real server)", "- service TCP 192.0.2.2:80 (with 1 real server)"]);
  });

  it("service changed: scheduler, persistence, netmask, flags, engine", () => {
    const after = state(BASE.replace("-A -t 192.0.2.1:80 -s wlc", "-A -t 192.0.2.1:80 -s sh -b sh-port -p 60 -M 255.255.255.0").replace("-A -u 192.0.2.1:53 -s rr", "-A -u 192.0.2.1:53 -s rr -o -p 30 --pe sip"));
    const c = diffSnapshots(base(), after);
    expect(kinds(c)).toEqual(["service-changed", "service-changed"]);
    expect(fieldsOf(c[0])).toEqual([
      { field: "scheduler", before: "wlc", after: "sh" },
      { field: "persistent", before: false, after: true },
      { field: "timeout", before: 0, after: 60 },
      { field: "netmask", before: "255.255.255.255", after: "255.255.255.0" },
      { field: "sched2", before: false, after: true },
    ]);
    expect(fieldsOf(c[1])!.map((f) => f.field)).toEqual(["persistent", "timeout", "persistenceEngine", "onePacket"]);
    expect(describeChange(c[0]!)).toBe("~ service TCP 192.0.2.1:80: scheduler wlc -> sh, persistent false -> true, timeout 0 -> 60, netmask 255.255.255.255 -> 255.255.255.0, sched2 false -> true");
  });

  it("destination added, removed, changed (weight, forwarding, thresholds, tunnel)", () => {
    const after = state(
      BASE.replace("-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1\n", "")
        .replace("-r 192.0.2.12:80 -g -w 2", "-r 192.0.2.12:80 -i -w 5 -x 100 -y 10")
        .replace("-a -u 192.0.2.1:53 -r 198.51.100.2:5353 -m -w 1", "-a -u 192.0.2.1:53 -r 198.51.100.2:5353 -m -w 1\n-a -u 192.0.2.1:53 -r 198.51.100.3:53 -m -w 0")
        .replace("--tun-type gue --tun-port 6080", "--tun-type gue --tun-port 6081 --tun-remcsum"),
    );
    const c = diffSnapshots(base(), after);
    expect(kinds(c)).toEqual(["destination-changed", "destination-removed", "destination-added", "destination-changed"]);
    expect(fieldsOf(c[0])).toEqual([
      { field: "forward", before: "route", after: "tunnel" },
      { field: "weight", before: 2, after: 5 },
      { field: "upperThreshold", before: 0, after: 100 },
      { field: "lowerThreshold", before: 0, after: 10 },
      { field: "tunnelType", before: null, after: "ipip" },
      { field: "tunnelPort", before: null, after: 0 },
      { field: "tunnelCsum", before: null, after: false },
      { field: "tunnelRemcsum", before: null, after: false },
    ]);
    expect(fieldsOf(c[3])).toEqual([
      { field: "tunnelPort", before: 6080, after: 6081 },
      { field: "tunnelRemcsum", before: false, after: true },
    ]);
    expect(c.map(describeChange).slice(1, 3)).toEqual(["- real server 192.0.2.11:80 in TCP 192.0.2.1:80", "+ real server 198.51.100.3:53 in UDP 192.0.2.1:53 (masq, weight 0)"]);
  });

  it("tunnel settings of a non-tunnel destination are not compared (the kernel reports ipip/0 for all)", () => {
    const a = base();
    const b = base();
    b.services[0]!.destinations[0]!.tunnel = { type: "gre", port: 9, csum: true, remcsum: false, rawFlags: 1 };
    expect(diffSnapshots(a, b)).toEqual([]);
  });

  it("an IPv6 address in another written form is the same service and real server", () => {
    const a = state("-A -t [2001:db8::1]:443 -s rr\n-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -g -w 1\n");
    const b = state("-A -t [2001:0db8:0:0:0:0:0:1]:443 -s rr\n-a -t [2001:0db8::1]:443 -r [2001:db8:0::11]:443 -g -w 1\n");
    expect(diffSnapshots(a, b)).toEqual([]);
  });

  it("timeouts: changed fields only; a field absent on either side is not compared", () => {
    const a: TableState = { ...base(), timeouts: { tcp: 900, tcpFin: 120, udp: 300 } };
    const c = diffSnapshots(a, { ...base(), timeouts: { tcp: 900, udp: 60 } });
    expect(c).toEqual([{ kind: "timeouts-changed", fields: [{ field: "udp", before: 300, after: 60 }] }]);
    expect(describeChange(c[0]!)).toBe("~ timeouts: udp 300 -> 60");
    expect(diffSnapshots(a, { ...base(), timeouts: {} })).toEqual([]);
  });

  it("daemons added, removed, changed; settings the desired side leaves out are the kernel's", () => {
    const master = { state: "master" as const, mcastInterface: "eth0", syncId: 1, syncMaxLen: 1472, mcastGroup: "224.0.0.81", mcastPort: 8848, mcastTtl: 1, unknown: [] };
    const backup = { state: "backup" as const, mcastInterface: "eth1", syncId: 2, unknown: [] };
    const a: TableState = { ...base(), daemons: [master] };
    expect(diffSnapshots(a, { ...base(), daemons: [{ state: "master", mcastInterface: "eth0", syncId: 1, unknown: [] }] })).toEqual([]);
    const c = diffSnapshots(a, { ...base(), daemons: [{ ...master, syncId: 3, mcastTtl: 2 }, backup] });
    expect(kinds(c)).toEqual(["daemon-changed", "daemon-added"]);
    expect(fieldsOf(c[0])).toEqual([
      { field: "syncId", before: 1, after: 3 },
      { field: "mcastTtl", before: 1, after: 2 },
    ]);
    expect(kinds(diffSnapshots(a, base()))).toEqual(["daemon-removed"]);
    expect(describeChange(diffSnapshots(a, base())[0]!)).toBe("- master sync daemon on eth0 (syncid 1)");
  });
});
