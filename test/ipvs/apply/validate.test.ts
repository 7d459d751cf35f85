// Validation before apply: every problem of a rules file or table, with its line, column and option, and the
// module check (through a fake probe: the real one is server/kernel/modules.ts, checked in the lab).
import { describe, expect, it } from "vitest";
import { checkRuleTable, formatIssue, loadRulesForApply, type ModuleProbe } from "@/server/ipvs/apply/validate";
import { moduleNamesIn } from "@/server/kernel/modules";
import type { RuleTable } from "@/server/ipvs/rules/model";

const probe: ModuleProbe = async (m) => (m === "ip_vs_twos" || m === "ip_vs_pe_sip" ? "missing" : "loadable");
const issues = async (text: string) => {
  const r = await loadRulesForApply(text, probe);
  return r.issues.map(formatIssue);
};

const GOOD = "-A -t 192.0.2.200:80 -s rr\n-a -t 192.0.2.200:80 -r 198.51.100.9:80 -m -w 1\n";

describe("loadRulesForApply", () => {
  it("accepts a good file", async () => {
    const r = await loadRulesForApply(GOOD, probe);
    expect(r.issues).toEqual([]);
    expect(r.table?.services.length).toBe(1);
  });

  it("reports every problem with its line, column and option, and returns no table", async () => {
    const text = [
      "-A -t 192.0.2.200:80 -s rr",
      "-a -t 192.0.2.200:80 -r 198.51.100.10:80 -m -w",
      "-a -t 192.0.2.200:80 -r 198.51.100.11:80 -m -w 2147483648",
      "-A -t 192.0.2.201:0 -s rr",
      "-A -t 192.0.2.202:65536 -s rr",
      "-A -t 192.0.2.203:80 -s foo",
      "-A -t 192.0.2.204:80 -s twos",
      "-a -t 192.0.2.200:80 -r 198.51.100.12:80 -m -w 1 -y 10",
      "-A -u 192.0.2.205:5060 -s rr -p 60 --pe sip",
      "-a -t 192.0.2.299:80 -r 198.51.100.13:80 -m",
    ].join("\n");
    const r = await loadRulesForApply(text, probe);
    expect(r.table).toBeNull();
    expect(r.issues.map(formatIssue)).toEqual([
      "line 2, column 45 (-w): -w needs a value",
      "line 3, column 48 (-w): weight 2147483648 is out of range (0..2147483647)",
      "line 4, column 7 (-t): port 0 (any port) is only allowed for a persistent service (-p)",
      'line 5, column 7 (-t): virtual service "192.0.2.202:65536": port 65536 is out of range (0..65535)',
      'line 6, column 25 (-s): unknown scheduler "foo" (known: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)',
      'line 7 (-s): -t 192.0.2.204:80: scheduler "twos": this kernel has no module ip_vs_twos (not loaded, not built in, not in /lib/modules)',
      "line 8 (-y): real server 198.51.100.12:80 of -t 192.0.2.200:80: lower threshold 10 is above the upper threshold 0 (the kernel refuses it; set -x too)",
      'line 9 (--pe): -u 192.0.2.205:5060: persistence engine "sip": this kernel has no module ip_vs_pe_sip (not loaded, not built in, not in /lib/modules)',
      'line 10, column 7 (-t): virtual service "192.0.2.299:80": "192.0.2.299" is not an IPv4 address',
    ]);
  });

  it("asks the probe once per module", async () => {
    const asked: string[] = [];
    await loadRulesForApply("-A -t 192.0.2.1:80 -s rr\n-A -t 192.0.2.2:80 -s rr\n-A -t 192.0.2.3:80 -s wlc\n", async (m) => (asked.push(m), "loaded"));
    expect(asked.sort()).toEqual(["ip_vs_rr", "ip_vs_wlc"]);
  });

  it("an unknown answer from the probe (no module tree) lets the kernel decide", async () => {
    expect(await loadRulesForApply("-A -t 192.0.2.1:80 -s twos\n", async () => "unknown")).toMatchObject({ issues: [] });
  });
});

describe("checkRuleTable (tables built by code)", () => {
  const table = (): RuleTable => ({
    services: [
      {
        key: { kind: "address", protocol: "TCP", family: 4, address: "192.0.2.1", port: 80 },
        scheduler: "sh",
        schedFlags: ["mh-port"],
        onePacket: true,
        persistent: { timeout: 0, netmask: "255.255.255.0" },
        realServers: [
          { family: 6, address: "2001:db8::1", port: 80, forward: "gatewaying", weight: -1, upperThreshold: 0, lowerThreshold: 0 },
          { family: 4, address: "198.51.100.2", port: 8080, forward: "gatewaying", weight: 1.5, upperThreshold: 5, lowerThreshold: 2 },
          { family: 4, address: "198.51.100.3", port: 80, forward: "ipip", weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: { type: "gue", port: 0, checksum: "nocsum" } },
        ],
      },
      { key: { kind: "fwmark", fwmark: 0, family: 6 }, scheduler: "rr", schedFlags: [], onePacket: false, persistent: { timeout: 60, netmask: "129" }, realServers: [] },
    ],
    timeouts: { tcp: 900, tcpFin: -1, udp: 300 },
    daemons: [{ state: "master", mcastInterface: "an-interface-name-too-long", syncId: 256 }],
  });

  it("finds every problem, naming what it is about", () => {
    expect(checkRuleTable(table()).map(formatIssue)).toEqual([
      '-t 192.0.2.1:80 (-b): scheduler flag "mh-port" does not apply to the sh scheduler',
      "-t 192.0.2.1:80 (-p): persistence timeout 0 is out of range (1..2678400)",
      "-t 192.0.2.1:80 (-o): one-packet scheduling (-o) is only for UDP and fwmark services",
      "real server [2001:db8::1]:80 of -t 192.0.2.1:80 (-r): real server is IPv6 and the service IPv4: only tunnelling (-i) crosses families",
      "real server [2001:db8::1]:80 of -t 192.0.2.1:80 (-w): weight -1 is out of range (0..2147483647)",
      "real server 198.51.100.2:8080 of -t 192.0.2.1:80 (-r): port 8080: direct routing and tunnelling keep the service's port (80); only masquerading (-m) maps ports",
      "real server 198.51.100.2:8080 of -t 192.0.2.1:80 (-w): weight 1.5 is out of range (0..2147483647)",
      "real server 198.51.100.3:80 of -t 192.0.2.1:80 (--tun-port): tunnel port 0 is out of range (1..65535)",
      "-f 0 -6 (-f): fwmark 0 is out of range (1..4294967295)",
      '-f 0 -6 (-M): IPv6 netmask "129" must be a prefix length from 1 to 128',
      "--set: tcpFin timeout -1 is out of range (0..2678400)",
      'master sync daemon (--mcast-interface): "an-interface-name-too-long" is not an interface name (1..15 characters)',
      "master sync daemon (--syncid): sync id 256 is out of range (0..255)",
    ]);
  });
});

describe("moduleNamesIn (modules.dep / modules.builtin)", () => {
  it("reads module names from paths, any compression, dashes as underscores", () => {
    const dep = "kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\nkernel/net/netfilter/ipvs/ip_vs_mh.ko.xz:\nkernel/drivers/net/dummy-thing.ko.zst:\n\n";
    expect([...moduleNamesIn(dep)].sort()).toEqual(["dummy_thing", "ip_vs_mh", "ip_vs_rr"]);
  });
});
