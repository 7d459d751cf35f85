// formatMetrics on tables recorded from Linux 6.1: parsed back with a Prometheus text-format parser, node_ipvs_*
// checked against node_exporter's names, labels and label formats, counters against ipvsadm --stats --exact.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import parsePrometheusTextFormat, { type ParsedFamily } from "parse-prometheus-text-format";
import { describe, expect, it } from "vitest";

import { IpvsClient } from "@/server/ipvs/netlink/client";
import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { parseProcIpVsStats } from "@/server/ipvs/proc/stats";
import { escapeLabelValue, formatMetrics, goIPString, NODE_BACKEND_LABELS } from "@/server/metrics/format";

import { dest, service } from "../history/helpers";
import { lines, loadFixture, oracle, replayTransport } from "../ipvs/netlink/helpers";

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/cases/dr/${name}`, import.meta.url)), "utf8");
const table = loadFixture("table");

/** The recorded table, replayed through the real client in the order record.ts asked for it. */
async function recordedSnapshot(): Promise<ServiceWithDestinations[]> {
  const { transport } = replayTransport(table.exchanges);
  const client = new IpvsClient(transport);
  await transport.resolveFamily();
  await client.getInfo();
  await client.getConfig();
  const services = await client.listServices();
  await client.getService({ family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 });
  const out: ServiceWithDestinations[] = [];
  for (const s of services) out.push({ ...s, destinations: await client.listDestinations(s.service) });
  return out;
}

const byName = (parsed: ParsedFamily[], name: string) => {
  const f = parsed.find((x) => x.name === name);
  if (!f) throw new Error(`no family ${name}`);
  return f;
};

describe("formatMetrics: node_exporter's ipvs collector", () => {
  it("writes the /proc/net/ip_vs_stats totals as node_exporter's five counters (recorded DR case)", () => {
    const totals = parseProcIpVsStats(fixture("dr-healthy.proc.ip_vs_stats.txt")).totals;
    const parsed = parsePrometheusTextFormat(formatMetrics([], totals));
    const value = (n: string) => byName(parsed, n).metrics[0]?.value;
    // 1E A5 0 2904 0 in the file; ipvsadm --stats printed 30 165 0 10500 0 for the same moment
    expect(value("node_ipvs_connections_total")).toBe("30");
    expect(value("node_ipvs_incoming_packets_total")).toBe("165");
    expect(value("node_ipvs_outgoing_packets_total")).toBe("0");
    expect(value("node_ipvs_incoming_bytes_total")).toBe("10500");
    expect(value("node_ipvs_outgoing_bytes_total")).toBe("0");
    expect(byName(parsed, "node_ipvs_connections_total")).toMatchObject({ type: "COUNTER", help: "The total number of connections made." });
  });

  it("labels real servers as node_exporter does: fwmark, SCTP, IPv6, IPv4-mapped IPv6, in its label set", async () => {
    const snap = await recordedSnapshot();
    const parsed = parsePrometheusTextFormat(formatMetrics(snap, null));
    const weight = byName(parsed, "node_ipvs_backend_weight");
    expect(weight).toMatchObject({ type: "GAUGE", help: "The current backend weight by local and remote address." });
    for (const m of weight.metrics) expect(Object.keys(m.labels ?? {}).sort()).toEqual([...NODE_BACKEND_LABELS].sort());
    const find = (remote: string, port: string) => weight.metrics.filter((m) => m.labels?.remote_address === remote && m.labels.remote_port === port);
    // -A -f 42 / -a -f 42 -r 198.51.100.9:0 -g -w 1: /proc/net/ip_vs prints "FWM  0000002A"
    expect(find("198.51.100.9", "0")).toEqual([{ value: "1", labels: { local_address: "", local_port: "0", remote_address: "198.51.100.9", remote_port: "0", proto: "FWM", local_mark: "0000002A" } }]);
    // -A -t [::ffff:192.0.2.1]:80 / -r [::1]:8080: Go prints the IPv4-mapped address as IPv4
    expect(find("::1", "8080")).toEqual([{ value: "1", labels: { local_address: "192.0.2.1", local_port: "80", remote_address: "::1", remote_port: "8080", proto: "TCP", local_mark: "" } }]);
    expect(find("198.51.100.2", "53")[0]?.labels).toMatchObject({ proto: "UDP", local_port: "53" });
    // weights and connection counts equal what ipvsadm -Ln printed for the same table
    const printed = lines(oracle(table, "ipvsadm -Ln")).filter((l) => l.startsWith("  ->") && !l.includes("RemoteAddress")).map((l) => l.trim().split(/\s+/));
    expect(weight.metrics).toHaveLength(printed.length);
    for (const [, addr, , w, active, inactive] of printed) {
      const m = /^\[?(.*?)\]?:(\d+)$/.exec(addr!)!;
      const remote = goIPString(m[1]!.includes(":") ? "inet6" : "inet", m[1]!);
      const rows = (name: string) => byName(parsed, name).metrics.filter((x) => x.labels?.remote_address === remote && x.labels.remote_port === m[2]);
      expect(rows("node_ipvs_backend_weight").map((x) => x.value)).toContain(w);
      expect(rows("node_ipvs_backend_connections_active").map((x) => x.value)).toContain(active);
      expect(rows("node_ipvs_backend_connections_inactive").map((x) => x.value)).toContain(inactive);
    }
  });

  it("gives node_ipvs_backend_* the values /proc/net/ip_vs has (recorded DR case)", () => {
    const proc = parseProcIpVs(fixture("dr-healthy.proc.ip_vs.txt"));
    const snap = proc.services.map((s) =>
      service(s.address, s.port, s.realServers.map((r) => dest(r.address, r.port, { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n }, { active: r.activeConns, inactive: r.inactiveConns, weight: r.weight }))),
    );
    const text = formatMetrics(snap, null);
    expect(text).toContain('node_ipvs_backend_weight{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP",remote_address="192.0.2.11",remote_port="80"} 1\n');
    expect(text).toContain('node_ipvs_backend_connections_inactive{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP",remote_address="192.0.2.12",remote_port="80"} 20\n');
  });

  it("prints every family once with HELP and TYPE first, sorted by name, series sorted by label values", async () => {
    const text = formatMetrics(await recordedSnapshot(), parseProcIpVsStats(fixture("dr-healthy.proc.ip_vs_stats.txt")).totals);
    const names: string[] = [];
    let current = "";
    for (const line of text.trimEnd().split("\n")) {
      const help = /^# HELP (\S+) /.exec(line);
      const type = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
      if (help) {
        names.push(help[1]!);
        current = "";
      } else if (type) {
        expect(type[1]).toBe(names.at(-1));
        current = type[1]!;
      } else {
        expect(line.startsWith(`${current}{`) || line.startsWith(`${current} `), line).toBe(true);
      }
    }
    expect(names).toEqual([...new Set(names)].sort());
    const active = text.split("\n").filter((l) => l.startsWith("node_ipvs_backend_connections_active{"));
    expect(active).toEqual([...active].sort());
  });
});

describe("formatMetrics: lvs_* extras", () => {
  it("writes 64-bit counters as exact integers, past 2^53, equal to ipvsadm --stats --exact", async () => {
    const snap = await recordedSnapshot();
    const parsed = parsePrometheusTextFormat(formatMetrics(snap, null));
    const udp = byName(parsed, "lvs_service_connections_total").metrics.find((m) => m.labels?.proto === "UDP");
    expect(udp?.value).toBe("20");
    expect(byName(parsed, "lvs_service_incoming_bytes_total").metrics.find((m) => m.labels?.proto === "UDP")?.value).toBe("1840");
    const huge = 2n ** 60n + 7n;
    const big = formatMetrics([service("192.0.2.100", 80, [dest("198.51.100.11", 80, { conns: huge, inPkts: huge, outPkts: 0n, inBytes: huge * 2n, outBytes: 0n })])], null);
    const bp = parsePrometheusTextFormat(big);
    expect(byName(bp, "lvs_backend_connections_total").metrics[0]?.value).toBe("1152921504606846983");
    expect(byName(bp, "lvs_service_incoming_bytes_total").metrics[0]?.value).toBe("2305843009213693966");
  });

  it("describes services and real servers: scheduler, persistence, forwarding method, tunnel type", async () => {
    const parsed = parsePrometheusTextFormat(formatMetrics(await recordedSnapshot(), null));
    const info = byName(parsed, "lvs_service_info").metrics;
    expect(info.find((m) => m.labels?.local_address === "192.0.2.1" && m.labels.local_port === "80" && m.labels.family === "inet")?.labels).toMatchObject({ scheduler: "wlc", persistence_timeout: "300" });
    const rs = byName(parsed, "lvs_backend_info").metrics;
    expect(rs.find((m) => m.labels?.remote_address === "198.51.100.4")?.labels).toMatchObject({ forward: "tunnel", tunnel_type: "gue" });
    expect(rs.find((m) => m.labels?.remote_address === "198.51.100.2" && m.labels.remote_port === "80")?.labels).toMatchObject({ forward: "masq", tunnel_type: "" });
    expect(byName(parsed, "lvs_services").metrics[0]?.value).toBe("7");
  });

  it("escapes label values: backslash, double quote, line feed", () => {
    const odd = 'a\\b"c\nd';
    expect(escapeLabelValue(odd)).toBe('a\\\\b\\"c\\nd');
    const s = service("192.0.2.100", 80, []);
    s.scheduler = odd;
    const parsed = parsePrometheusTextFormat(formatMetrics([s], null));
    expect(byName(parsed, "lvs_service_info").metrics[0]?.labels?.scheduler).toBe(odd);
  });

  it("with perServer false: no lvs_backend_* series, node_ipvs_backend_* summed per service", () => {
    const t0 = { conns: 1n, inPkts: 1n, outPkts: 0n, inBytes: 1n, outBytes: 0n };
    const snap = [service("192.0.2.100", 80, [dest("198.51.100.11", 80, t0, { active: 2, inactive: 5, weight: 1 }), dest("198.51.100.12", 80, t0, { active: 3, inactive: 7, weight: 2 })])];
    const all = formatMetrics(snap, null);
    const text = formatMetrics(snap, null, { perServer: false });
    expect(all).toMatch(/^lvs_backend_/m);
    expect(text).not.toMatch(/^lvs_backend_/m);
    expect(text).toContain('node_ipvs_backend_connections_active{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP"} 5\n');
    expect(text).toContain('node_ipvs_backend_connections_inactive{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP"} 12\n');
    expect(text).toContain('node_ipvs_backend_weight{local_address="192.0.2.100",local_mark="",local_port="80",proto="TCP"} 3\n');
    // node_exporter's --collector.ipvs.backend-labels=local_port: one series per port
    expect(formatMetrics(snap, null, { backendLabels: ["local_port"] })).toContain('node_ipvs_backend_weight{local_port="80"} 3\n');
  });
});

describe("goIPString: Go's net.IP.String()", () => {
  it("compresses IPv6 like RFC 5952, prints IPv4-mapped as IPv4, and no dotted tail otherwise", () => {
    expect(goIPString("inet", "192.0.2.1")).toBe("192.0.2.1");
    expect(goIPString("inet6", "2001:db8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(goIPString("inet6", "2001:db8:0:1:0:0:0:1")).toBe("2001:db8:0:1::1");
    expect(goIPString("inet6", "2001:0:0:1:0:0:1:1")).toBe("2001::1:0:0:1:1");
    expect(goIPString("inet6", "2001:db8:1:1:1:1:0:1")).toBe("2001:db8:1:1:1:1:0:1");
    expect(goIPString("inet6", "::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(goIPString("inet6", "::192.0.2.1")).toBe("::c000:201");
    expect(goIPString("inet6", "::")).toBe("::");
    expect(goIPString("inet6", "::1")).toBe("::1");
  });
});
