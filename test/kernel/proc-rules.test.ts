// The /proc readers and the ipvsadm rule codec against a real IPVS kernel (lab guest only).
//
// A rules file using every option (test/fixtures/cases/rules-rich/rules.txt) is loaded with
// ipvsadm-restore in a fresh network namespace. Then, from the same table:
// - `ipvsadm-save -n` parsed and emitted by us is the same text, byte for byte;
// - the table we build from the rules file ourselves emits that same text (our -A/-E/-a/-e/-d/-D
//   semantics are the kernel's);
// - /proc/net/ip_vs, parsed, agrees with the rules: schedulers, persistence, weights, forwarding;
// - `ipvsadm -Ln --thresholds` and `--timeout` show the thresholds and timeouts the rules set
//   (ipvsadm-save does not write them);
// - lines ipvsadm refuses, we refuse too.
// Local clients then open real connections through a persistent service (IPv4 and IPv6, TCP and UDP),
// and /proc/net/ip_vs_conn{,_sync} decode to what `ipvsadm -Lnc` shows.
// The raw texts go to $LAB_ARTIFACTS/rules-rich/ for test/fixtures/cases/rules-rich/ (unit tests use them).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseProcIpVsConn } from "@/server/ipvs/proc/conn";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { parseIpvsadmRules } from "@/server/ipvs/rules/parse";
import { compareRulesWithProc } from "@/server/ipvs/rules/compare";
import { buildRuleTable, loadIpvsadmRules } from "@/server/ipvs/rules/table";

const NS = "lvsdash-proc-rules";
const RULES = readFileSync(new URL("../fixtures/cases/rules-rich/rules.txt", import.meta.url), "utf8");
const artifacts = process.env.LAB_ARTIFACTS ? join(process.env.LAB_ARTIFACTS, "rules-rich") : null;

/** One sh for many small commands: every process start is slow under emulation. */
function sh(script: string, input?: string): string {
  return execFileSync("sh", ["-ec", script], { encoding: "utf8", input });
}
const inNs = (script: string, input?: string) => sh(`ip netns exec ${NS} sh -ec '${script.replaceAll("'", `'\\''`)}'`, input);

/** Several outputs from one shell, split at marker lines. */
function snapshot(commands: Record<string, string>): Record<string, string> {
  const script = Object.entries(commands)
    .map(([name, cmd]) => `echo "@@@ ${name}"; ${cmd}`)
    .join("; ");
  const out: Record<string, string> = {};
  for (const part of inNs(script).split("@@@ ").slice(1)) {
    const nl = part.indexOf("\n");
    out[part.slice(0, nl)] = part.slice(nl + 1);
  }
  return out;
}

function record(name: string, text: string): void {
  if (!artifacts) return;
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, name), text);
}

beforeAll(() => {
  sh(`ip netns del ${NS} 2>/dev/null || true; ip netns add ${NS}`);
  inNs(
    "ip link set lo up; ip link add d0 type dummy; ip link set d0 up; " +
      "ip addr add 192.0.2.1/24 dev d0; ip -6 addr add 2001:db8::1/64 dev d0 nodad",
  );
});

afterAll(() => {
  sh(`ip netns del ${NS} 2>/dev/null || true`);
});

describe("rules and /proc/net/ip_vs on a real kernel", () => {
  let snap: Record<string, string>;

  beforeAll(() => {
    inNs("ipvsadm-restore", RULES);
    snap = snapshot({
      save: "ipvsadm-save -n",
      proc: "cat /proc/net/ip_vs",
      ln: "ipvsadm -Ln",
      thresholds: "ipvsadm -Ln --thresholds",
      timeout: "ipvsadm -Ln --timeout",
    });
    record("rules.txt", RULES);
    record("ipvsadm-save.txt", snap.save ?? "");
    record("proc.ip_vs.txt", snap.proc ?? "");
    record("ipvsadm-Ln.txt", snap.ln ?? "");
    record("ipvsadm-Ln-thresholds.txt", snap.thresholds ?? "");
  });

  it("parses ipvsadm-save -n and emits it byte for byte", () => {
    const save = snap.save ?? "";
    expect(save.split("\n").length).toBeGreaterThan(40);
    const parsed = parseIpvsadmRules(save);
    expect(parsed.errors).toEqual([]);
    const built = buildRuleTable(parsed.commands);
    expect(built.errors).toEqual([]);
    expect(emitIpvsadmSave(built.table)).toBe(save);
  });

  it("builds from the rules file the table the kernel built", () => {
    const loaded = loadIpvsadmRules(RULES);
    expect(loaded.errors).toEqual([]);
    expect(emitIpvsadmSave(loaded.table)).toBe(snap.save);
  });

  it("reads /proc/net/ip_vs in agreement with the rules", () => {
    const proc = parseProcIpVs(snap.proc ?? "");
    const { table } = loadIpvsadmRules(RULES);
    expect(proc.services).toHaveLength(table.services.length);
    expect(compareRulesWithProc(table, proc)).toEqual([]);
  });

  it("keeps the thresholds and timeouts ipvsadm-save leaves out", () => {
    const { table } = loadIpvsadmRules(RULES);
    const shown = (snap.thresholds ?? "")
      .split("\n")
      .filter((l) => l.startsWith("  -> ") && !l.includes("RemoteAddress"))
      .map((l) => l.trim().split(/\s+/).slice(1, 4).join(" "))
      .sort();
    const ours = table.services
      .flatMap((s) => s.realServers)
      .map((r) => `${r.family === 6 ? `[${r.address}]` : r.address}:${r.port} ${r.upperThreshold} ${r.lowerThreshold}`)
      .sort();
    expect(shown).toEqual(ours);
    expect(shown).toContain("198.51.100.21:8443 100 50");
    expect(snap.timeout?.trim()).toBe(`Timeout (tcp tcpfin udp): ${table.timeouts?.tcp} ${table.timeouts?.tcpFin} ${table.timeouts?.udp}`);
  });

  it("refuses the lines ipvsadm refuses", () => {
    const bad = [
      "-A -t 192.0.2.150:80 -s foo",
      "-A -t 192.0.2.150:65536",
      "-A -t 192.0.2.150:0 -s rr",
      "-A -t 192.0.2.150:80 -o",
      "-a -t 192.0.2.100:80 -r 192.0.2.51 -w 2147483648",
      "-a -t 192.0.2.100:80 -r 192.0.2.52 -w 5 -w 6",
      "-a -t 192.0.2.100:80 -r 192.0.2.53 -g --tun-type gue",
      "-a -t 192.0.2.101:80 -r 203.0.113.99 -i --tun-type gue",
      "-a -t 192.0.2.101:80 -r 203.0.113.99 -i --tun-type gre --tun-remcsum",
      "-a -t 192.0.2.100:80 -r 192.0.2.54 -x 10 -y 50",
      "-a -t 192.0.2.199:80 -r 192.0.2.55",
      "-A -t 192.0.2.100:80",
      "-A -f 0",
      "-A -t 192.0.2.150:80 -p 0",
      "-A -t [2001:db8::150]:80 -p 10 -M 129",
      "-a -t 192.0.2.100:80 -r [2001:db8::55] -g",
      "-A -t 192.0.2.150:80 -w 3",
      "-a -t 192.0.2.100:80 -r [2001:db8::56] -i",
    ];
    const statuses = inNs(bad.map((line) => `ipvsadm ${line} >/dev/null 2>&1 && echo ok || echo refused`).join("; "));
    expect(statuses.trim().split("\n")).toEqual(bad.map(() => "refused"));
    // Against the table of the rules file (so "already defined" and "not defined earlier" can show).
    for (const line of bad) {
      const { errors } = loadIpvsadmRules(`${RULES}\n${line}\n`);
      expect(errors, line).toHaveLength(1);
    }
    expect(inNs("ipvsadm-save -n")).toBe(snap.save);
  });
});

describe("/proc/net/ip_vs_conn on a real kernel", () => {
  it("decodes real connections, templates and IPv6 entries as ipvsadm -Lnc shows them", () => {
    // Local clients through NAT services to listeners on the director itself: a persistent TCP service
    // (IPv4, and IPv6 with a /64 persistence netmask), a UDP service, and a persistent fwmark service
    // (its templates carry protocol IP and the fwmark as their virtual address).
    inNs(
      [
        "ipvsadm -C",
        "ipvsadm -A -t 192.0.2.1:8080 -s rr -p 300",
        "ipvsadm -a -t 192.0.2.1:8080 -r 192.0.2.1:8081 -m",
        "ipvsadm -A -u 192.0.2.1:5353 -s rr",
        "ipvsadm -a -u 192.0.2.1:5353 -r 192.0.2.1:5354 -m",
        "ipvsadm -A -u [2001:db8::1]:5353 -s rr",
        "ipvsadm -a -u [2001:db8::1]:5353 -r [2001:db8::1]:5354 -m",
        "ipvsadm -A -t [2001:db8::1]:8080 -s rr -p 60 -M 64",
        "ipvsadm -a -t [2001:db8::1]:8080 -r [2001:db8::1]:8081 -m",
        "nft add table ip lvsdash_mark",
        "nft add chain ip lvsdash_mark out '{ type route hook output priority mangle; }'",
        "nft add rule ip lvsdash_mark out ip daddr 192.0.2.1 tcp dport 9090 meta mark set 5",
        "ipvsadm -A -f 5 -s rr -p 120",
        "ipvsadm -a -f 5 -r 192.0.2.1:8081 -m",
        "(busybox nc -l -p 8081 -e cat >/dev/null 2>&1 &)",
        "sleep 0.5",
        "echo hi | busybox nc -w 1 192.0.2.1 8080 >/dev/null 2>&1 || true",
        "echo hi | busybox nc -w 1 2001:db8::1 8080 >/dev/null 2>&1 || true",
        "echo hi | busybox nc -w 1 192.0.2.1 9090 >/dev/null 2>&1 || true",
        "bash -c 'echo hi > /dev/udp/192.0.2.1/5353; echo hi > /dev/udp/2001:db8::1/5353' || true",
      ].join("; "),
    );
    const snap = snapshot({
      conn: "cat /proc/net/ip_vs_conn",
      sync: "cat /proc/net/ip_vs_conn_sync",
      lnc: "ipvsadm -Lnc",
    });
    record("proc.ip_vs_conn.txt", snap.conn ?? "");
    record("proc.ip_vs_conn_sync.txt", snap.sync ?? "");
    record("ipvsadm-Lnc.txt", snap.lnc ?? "");

    const conn = parseProcIpVsConn(snap.conn ?? "");
    expect(conn.malformed).toBe(0);
    expect(conn.entries.length).toBeGreaterThanOrEqual(3);
    expect(conn.entries.some((e) => e.template)).toBe(true);
    expect(conn.entries.some((e) => e.family === 6)).toBe(true);
    expect(conn.entries.filter((e) => e.protocol === "UDP").map((e) => e.state)).toEqual(["UDP", "UDP"]);
    expect(conn.entries.some((e) => e.protocol === "IP" && e.template && e.virtualAddress === "0.0.0.5")).toBe(true);
    const lnc = (snap.lnc ?? "")
      .split("\n")
      .slice(2)
      .filter(Boolean)
      .map((l) => {
        const [pro, , state, source, virtual, dest] = l.trim().split(/\s+/);
        return `${pro} ${state} ${source} ${virtual} ${dest}`;
      })
      .sort();
    const ours = conn.entries
      .map((e) => {
        const hp = (fam: 4 | 6, a: string, p: number) => (fam === 6 ? `[${a}]:${p}` : `${a}:${p}`);
        return `${e.protocol} ${e.state} ${hp(e.family, e.clientAddress, e.clientPort)} ${hp(e.family, e.virtualAddress, e.virtualPort)} ${hp(e.destFamily, e.destAddress, e.destPort)}`;
      })
      .sort();
    expect(ours).toEqual(lnc);
    const sync = parseProcIpVsConn(snap.sync ?? "", "ip_vs_conn_sync");
    expect(sync.malformed).toBe(0);
    expect(sync.entries.map((e) => e.origin)).toEqual(sync.entries.map(() => "LOCAL"));
  });
});
