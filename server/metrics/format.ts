// /metrics: the IPVS table in Prometheus's text exposition format (version 0.0.4), pure.
//
// 1. node_exporter's ipvs collector, name for name and label for label (collector/ipvs_linux.go with
//    procfs's ipvs.go), so Grafana dashboards built on it work unchanged:
//
//      node_ipvs_connections_total        counter  \
//      node_ipvs_incoming_packets_total   counter   |  /proc/net/ip_vs_stats totals, no labels
//      node_ipvs_outgoing_packets_total   counter   |
//      node_ipvs_incoming_bytes_total     counter   |
//      node_ipvs_outgoing_bytes_total     counter  /
//      node_ipvs_backend_connections_active    gauge  \  one per real server, labels (in node_exporter's
//      node_ipvs_backend_connections_inactive  gauge   | order) local_address, local_port, remote_address,
//      node_ipvs_backend_weight                gauge  /  remote_port, proto, local_mark
//
//    Label values as node_exporter writes them: proto "TCP", "UDP" or "FWM" (we also write "SCTP", which
//    procfs skips); a fwmark service has local_address "", local_port "0" and local_mark the mark as the
//    kernel prints it in /proc/net/ip_vs ("%08X": mark 42 is "0000002A"); others have local_mark "".
//    Addresses are Go's net.IP.String(): IPv4 dotted, IPv6 in RFC 5952 form ("2001:db8::1"), and an
//    IPv4-mapped IPv6 address ("::ffff:192.0.2.1") as plain IPv4 ("192.0.2.1"). Like node_exporter, backends
//    whose label values coincide (after dropping labels, see below) are summed into one series.
//
// 2. Our extras, lvs_*, with the same labels: per-service and per-real-server 64-bit counters (netlink
//    STATS64), the kernel estimator's rates, persistent connections, and info metrics (scheduler, forwarding
//    method). Rates here are the kernel's (2 s updates, about 8 s smoothing); Prometheus's rate() over the
//    counters is the better source for charts.
//
// Label cardinality: `perServer: false` (LVSDASH_METRICS_PER_SERVER=0) drops every lvs_backend_* series and
// drops remote_address and remote_port from node_ipvs_backend_*, whose values are then summed per virtual
// service (what node_exporter does with --collector.ipvs.backend-labels=local_address,local_port,proto,
// local_mark): one series per service instead of one per real server. `backendLabels` is that flag itself.
//
// Counters are printed as exact decimal integers from bigint (node_exporter prints float64, 2.3765872e+07:
// the same number to a parser). Families are sorted by name and series by label values, as client_golang does.
import type { IpVsCounters } from "@/server/ipvs/proc/stats";
import { parseIPv6 } from "@/server/ipvs/netlink/addr";
import { isFwmarkService, type Destination, type ServiceWithDestinations, type Stats } from "@/server/ipvs/netlink/types";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** node_exporter's backend labels, in its order. */
export const NODE_BACKEND_LABELS = ["local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"] as const;
export type NodeBackendLabel = (typeof NODE_BACKEND_LABELS)[number];

export interface MetricsOptions {
  /** false: no lvs_backend_* series, node_ipvs_backend_* summed per service (default true). */
  perServer?: boolean;
  /** node_ipvs_backend_* labels to keep (node_exporter's --collector.ipvs.backend-labels; default all). */
  backendLabels?: readonly NodeBackendLabel[];
}

/** LVSDASH_METRICS_PER_SERVER=0 turns per-real-server series off. */
export function metricsOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): MetricsOptions {
  return { perServer: env.LVSDASH_METRICS_PER_SERVER !== "0" };
}

// ---------------------------------------------------------------------------------------------------------
// Label values as node_exporter writes them
// ---------------------------------------------------------------------------------------------------------

/** Go's net.IP.String() for an address IpvsClient reported. */
export function goIPString(family: "inet" | "inet6", address: string): string {
  if (family === "inet") return address;
  const b = parseIPv6(address);
  if (!b) return address;
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

type ServiceLabels = { local_address: string; local_port: string; proto: string; local_mark: string };

export function serviceLabels(s: ServiceWithDestinations["service"]): ServiceLabels {
  if (isFwmarkService(s)) {
    return { local_address: "", local_port: "0", proto: "FWM", local_mark: s.fwmark.toString(16).toUpperCase().padStart(8, "0") };
  }
  return { local_address: goIPString(s.family, s.address), local_port: String(s.port), proto: s.protocol.toUpperCase(), local_mark: "" };
}

const destLabels = (d: Destination) => ({ remote_address: goIPString(d.family, d.address), remote_port: String(d.port) });

// ---------------------------------------------------------------------------------------------------------
// The exposition writer
// ---------------------------------------------------------------------------------------------------------

type Labels = Record<string, string>;
type Value = bigint | number;

interface Family {
  help: string;
  type: "counter" | "gauge";
  series: Map<string, { labels: Labels; value: Value }>;
}

/** Label values escaped as the format requires: backslash, double quote and line feed. */
export const escapeLabelValue = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: Value): string {
  if (typeof v === "bigint") return v.toString();
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
}

class Exposition {
  private readonly families = new Map<string, Family>();

  family(name: string, type: Family["type"], help: string): Family {
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, series: new Map() };
      this.families.set(name, f);
    }
    return f;
  }

  /** Sets a series; `sum` adds to one with the same labels instead (node_exporter's merging). */
  put(name: string, type: Family["type"], help: string, labels: Labels, value: Value, sum = false): void {
    const f = this.family(name, type, help);
    const names = Object.keys(labels).sort();
    const key = names.map((n) => labels[n]).join("\u0000");
    const had = f.series.get(key);
    if (had && sum) had.value = typeof had.value === "bigint" && typeof value === "bigint" ? had.value + value : Number(had.value) + Number(value);
    else f.series.set(key, { labels, value });
  }

  text(): string {
    const out: string[] = [];
    for (const name of [...this.families.keys()].sort()) {
      const f = this.families.get(name)!;
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`);
      const rows = [...f.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [, { labels, value }] of rows) {
        const names = Object.keys(labels).sort();
        const l = names.length ? `{${names.map((n) => `${n}="${escapeLabelValue(labels[n]!)}"`).join(",")}}` : "";
        out.push(`${name}${l} ${formatValue(value)}`);
      }
    }
    return out.length ? `${out.join("\n")}\n` : "";
  }
}

// ---------------------------------------------------------------------------------------------------------
// The metrics
// ---------------------------------------------------------------------------------------------------------

const NODE_TOTALS: [keyof IpVsCounters, string, string][] = [
  ["conns", "node_ipvs_connections_total", "The total number of connections made."],
  ["inPackets", "node_ipvs_incoming_packets_total", "The total number of incoming packets."],
  ["outPackets", "node_ipvs_outgoing_packets_total", "The total number of outgoing packets."],
  ["inBytes", "node_ipvs_incoming_bytes_total", "The total amount of incoming data."],
  ["outBytes", "node_ipvs_outgoing_bytes_total", "The total amount of outgoing data."],
];

const NODE_BACKEND: [keyof Pick<Destination, "activeConns" | "inactiveConns" | "weight">, string, string][] = [
  ["activeConns", "node_ipvs_backend_connections_active", "The current active connections by local and remote address."],
  ["inactiveConns", "node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address."],
  ["weight", "node_ipvs_backend_weight", "The current backend weight by local and remote address."],
];

/** lvs_<scope>_<name>: the 64-bit counters and the estimator's rates of a service or a real server. */
const LVS_STATS: [keyof Stats, string, "counter" | "gauge", string][] = [
  ["conns", "connections_total", "counter", "Connections scheduled (64-bit kernel counter)."],
  ["inPkts", "incoming_packets_total", "counter", "Packets from clients (64-bit kernel counter)."],
  ["outPkts", "outgoing_packets_total", "counter", "Packets to clients (64-bit kernel counter; 0 in DR and TUN)."],
  ["inBytes", "incoming_bytes_total", "counter", "Bytes from clients (64-bit kernel counter)."],
  ["outBytes", "outgoing_bytes_total", "counter", "Bytes to clients (64-bit kernel counter; 0 in DR and TUN)."],
  ["cps", "connections_per_second", "gauge", "Connections per second, the kernel estimator's (2 s updates, smoothed)."],
  ["inPps", "incoming_packets_per_second", "gauge", "Incoming packets per second, the kernel estimator's."],
  ["outPps", "outgoing_packets_per_second", "gauge", "Outgoing packets per second, the kernel estimator's."],
  ["inBps", "incoming_bytes_per_second", "gauge", "Incoming bytes per second, the kernel estimator's."],
  ["outBps", "outgoing_bytes_per_second", "gauge", "Outgoing bytes per second, the kernel estimator's."],
];

/**
 * The whole /metrics text for one director: `services` from IpvsClient.snapshot(), `totals` from
 * /proc/net/ip_vs_stats (null: the node_ipvs_*_total lines are left out, as when the file is missing).
 */
export function formatMetrics(services: readonly ServiceWithDestinations[], totals: IpVsCounters | null, opts: MetricsOptions = {}): string {
  const perServer = opts.perServer ?? true;
  const keep = new Set<string>(
    (opts.backendLabels ?? NODE_BACKEND_LABELS).filter((l) => perServer || (l !== "remote_address" && l !== "remote_port")),
  );
  const x = new Exposition();

  if (totals) for (const [k, name, help] of NODE_TOTALS) x.put(name, "counter", help, {}, totals[k]);
  x.put("lvs_services", "gauge", "Virtual services in the IPVS table.", {}, services.length);
  x.put("lvs_backends", "gauge", "Real servers in the IPVS table.", {}, services.reduce((a, s) => a + s.destinations.length, 0));

  for (const svc of services) {
    const sl = serviceLabels(svc.service);
    x.put("lvs_service_info", "gauge", "A virtual service: its scheduler, persistence and family.", {
      ...sl,
      family: svc.service.family,
      scheduler: svc.scheduler,
      persistence_timeout: String(svc.flags.persistent ? svc.timeout : 0),
      one_packet: String(svc.flags.onePacket),
    }, 1);
    putStats(x, "service", sl, svc.stats);
    for (const d of svc.destinations) {
      const dl = { ...sl, ...destLabels(d) };
      const nodeLabels = Object.fromEntries(Object.entries(dl).filter(([k]) => keep.has(k)));
      for (const [k, name, help] of NODE_BACKEND) x.put(name, "gauge", help, nodeLabels, d[k], true);
      if (!perServer) continue;
      x.put("lvs_backend_info", "gauge", "A real server: its forwarding method (and tunnel type).", {
        ...dl,
        forward: d.forward,
        tunnel_type: d.forward === "tunnel" ? (d.tunnel?.type ?? "ipip") : "",
      }, 1);
      x.put("lvs_backend_connections_persistent", "gauge", "Persistence templates pointing at the real server.", dl, d.persistentConns);
      putStats(x, "backend", dl, d.stats);
    }
  }
  return x.text();
}

function putStats(x: Exposition, scope: "service" | "backend", labels: Labels, stats: Stats | undefined): void {
  if (!stats) return;
  for (const [k, name, type, help] of LVS_STATS) x.put(`lvs_${scope}_${name}`, type, help, labels, stats[k] as bigint);
}
