// Plain-text forms of IPVS values, as an operator reads them (addresses as ipvsadm -n prints them). PURE.
import type { RouterOutputs } from "@/app/_trpc/react";

export type OverviewView = RouterOutputs["dashboard"]["overview"];
export type LiveOverview = Extract<OverviewView, { kind: "live" }>;
export type ServiceSummary = LiveOverview["services"][number];
export type ServiceView = RouterOutputs["dashboard"]["service"];
export type LiveServiceView = Extract<ServiceView, { kind: "live" }>;
export type LiveService = NonNullable<LiveServiceView["service"]>;
export type LiveRealServer = LiveService["destinations"][number];
export type Rates = NonNullable<ServiceSummary["rate"]>;

/** "192.0.2.100:80", "[2001:db8::1]:80", or "fwmark 42" for a firewall-mark service. */
export function serviceAddress(s: Pick<ServiceSummary, "family" | "address" | "port" | "fwmark">): string {
  if (s.fwmark !== null) return `fwmark ${s.fwmark}${s.family === "inet6" ? " (IPv6)" : ""}`;
  return s.family === "inet6" ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

/** The page of a service: its history key in the path. */
export const servicePath = (key: string) => `/services/${encodeURIComponent(key)}`;

/** The kernel's forwarding methods (IP_VS_CONN_F_*) by the LVS mode's usual name. */
export const FORWARD_LABELS: Record<string, string> = {
  route: "Direct routing",
  masq: "NAT",
  tunnel: "Tunnel",
  local: "Local",
  bypass: "Bypass",
};

/** The ipvsadm flag for each forwarding method. */
export const FORWARD_FLAGS: Record<string, string> = { route: "-g", masq: "-m", tunnel: "-i", local: "-g", bypass: "" };

/** A service's mode: "Direct routing", "NAT", "mixed: NAT, Tunnel", or "—" without real servers. */
export function modeLabel(forward: readonly string[]): string {
  if (forward.length === 0) return "—";
  const names = forward.map((f) => FORWARD_LABELS[f] ?? f);
  return names.length === 1 ? names[0]! : `mixed: ${names.join(", ")}`;
}

/** The schedulers of mainline Linux (net/netfilter/ipvs/ip_vs_*.c). */
const SCHEDULER_NAMES: Record<string, string> = {
  rr: "round robin",
  wrr: "weighted round robin",
  lc: "least connection",
  wlc: "weighted least connection",
  lblc: "locality-based least connection",
  lblcr: "locality-based least connection with replication",
  dh: "destination hashing",
  sh: "source hashing",
  sed: "shortest expected delay",
  nq: "never queue",
  fo: "weighted failover",
  ovf: "weighted overflow",
  mh: "maglev hashing",
  twos: "weighted random twos choice",
};

export function schedulerName(scheduler: string): string | null {
  return SCHEDULER_NAMES[scheduler] ?? null;
}

/** The service's flags as an operator names them (the scheduler flags mean something for sh and mh only). */
export function flagLabels(s: Pick<ServiceSummary, "flags" | "scheduler" | "timeout" | "netmask" | "persistenceEngine" | "family">): string[] {
  const out: string[] = [];
  const full = s.netmask === "255.255.255.255" || s.netmask === "/128";
  if (s.flags.persistent) out.push(`persistent ${formatSeconds(s.timeout)}${full || s.netmask === "" ? "" : ` per ${s.netmask}`}`);
  if (s.persistenceEngine) out.push(`persistence engine ${s.persistenceEngine}`);
  if (s.flags.onePacket) out.push("one-packet scheduling");
  const hashing = s.scheduler === "sh" || s.scheduler === "mh";
  if (s.flags.sched1) out.push(hashing ? "fallback (sched-flag 1)" : "sched-flag 1");
  if (s.flags.sched2) out.push(hashing ? "port in hash (sched-flag 2)" : "sched-flag 2");
  if (s.flags.sched3) out.push("sched-flag 3");
  return out;
}

const int = new Intl.NumberFormat("en-US");

export function formatCount(n: number): string {
  return int.format(n);
}

/** A per-second rate: "0", "0.4", "12.5", "1,234". null (no rate this tick) is "–". */
export function formatRate(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  if (v === 0) return "0";
  if (v < 10) return v.toFixed(1);
  return int.format(Math.round(v));
}

const SI = ["", "k", "M", "G", "T", "P"];

/** A number with an SI prefix: 0 -> "0", 1234 -> "1.23 k", 12_345_678 -> "12.3 M". */
export function formatSI(v: number): string {
  if (v === 0) return "0";
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1000 && i < SI.length - 1) {
    x /= 1000;
    i++;
  }
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return `${v < 0 ? "-" : ""}${i === 0 && Number.isInteger(x) ? x : x.toFixed(digits)}${SI[i] ? ` ${SI[i]}` : ""}`;
}

/** Bytes per second as bits per second, as network people read throughput: "12.3 Mbit/s". */
export function formatBits(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined) return "–";
  const s = formatSI(bytesPerSecond * 8); // "512", "12.3 M"
  return /[a-zA-Z]$/.test(s) ? `${s}bit/s` : `${s} bit/s`;
}

/** Packets per second: "0", "3.2", "1.23 k". */
export function formatPps(v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return v < 1000 ? formatRate(v) : formatSI(v);
}

/** Seconds as "45 s", "15 min", "2 h", "1 h 30 min". */
export function formatSeconds(s: number): string {
  if (s < 60 || s % 60 !== 0) return `${formatCount(s)} s`;
  const m = s / 60;
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
}

/** A date and time "2026-11-21 14:03" (with `seconds`: "14:03:07"), in the browser's time zone. */
export function formatDateTime(ms: number, { seconds = false }: { seconds?: boolean } = {}): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${seconds ? `${hm}:${pad(d.getSeconds())}` : hm}`;
}

/** A clock time "14:03:07" (24 h, the browser's time zone). */
export function formatClock(t: number): string {
  return new Date(t).toLocaleTimeString("en-GB", { hour12: false });
}

/** An address as numbers to compare: [4, octets...] or [6, eight groups...] ("::" expanded). */
function addressKey(address: string): number[] {
  if (!address.includes(":")) return [4, ...address.split(".").map(Number)];
  const [head = "", tail = ""] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes("::") ? groups(tail) : [];
  return [6, ...h, ...new Array<number>(Math.max(8 - h.length - t.length, 0)).fill(0), ...t];
}

/** Orders addresses as numbers: IPv4 before IPv6. */
export function compareAddresses(a: string, b: string): number {
  const ka = addressKey(a);
  const kb = addressKey(b);
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const d = (ka[i] ?? 0) - (kb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Services by address, port, then protocol, fwmark services last (the kernel's order means nothing to a reader). */
export function sortServices<S extends Pick<ServiceSummary, "fwmark" | "address" | "port" | "protocol">>(services: readonly S[]): S[] {
  return [...services].sort(
    (a, b) =>
      Number(a.fwmark !== null) - Number(b.fwmark !== null) ||
      (a.fwmark ?? 0) - (b.fwmark ?? 0) ||
      compareAddresses(a.address ?? "", b.address ?? "") ||
      (a.port ?? 0) - (b.port ?? 0) ||
      a.protocol.localeCompare(b.protocol),
  );
}

/** Real servers by address and port (the kernel lists the newest first). */
export function sortRealServers<R extends Pick<LiveRealServer, "address" | "port">>(rs: readonly R[]): R[] {
  return [...rs].sort((a, b) => compareAddresses(a.address, b.address) || a.port - b.port);
}

/** One point of a sparkline: a time (ms) and a value (null: no rate then). */
export interface SparkPoint {
  t: number;
  v: number | null;
}

export const SPARK_WINDOW_MS = 5 * 60_000;
/** A sparkline takes a point every 5 s (the history's step for them): 1,000 rows do not all redraw every second. */
export const SPARK_STEP_MS = 5_000;

/**
 * The overview's sparklines after one more sample: each service's new-connections rate appended (at most one
 * point per `stepMs`), points older than the window dropped, services no longer in the table dropped. Arrays
 * of services that got a point are new (memoized rows redraw), the others are kept. PURE.
 */
export function appendSparkPoints(
  data: Readonly<Record<string, SparkPoint[]>>,
  view: Pick<LiveOverview, "t" | "services">,
  windowMs = SPARK_WINDOW_MS,
  stepMs = SPARK_STEP_MS,
): Record<string, SparkPoint[]> {
  const out: Record<string, SparkPoint[]> = {};
  const from = view.t - windowMs;
  for (const s of view.services) {
    const old = data[s.key] ?? [];
    const recent = old.length > 0 && old.at(-1)!.t > view.t - stepMs;
    if (recent && old[0]!.t >= from) {
      out[s.key] = old;
      continue;
    }
    const kept = old.length && old[0]!.t < from ? old.filter((p) => p.t >= from) : old;
    out[s.key] = recent ? kept : [...kept, { t: view.t, v: s.rate2s?.conns ?? null }];
  }
  return out;
}

/** History (older, coarser) under live points: history up to the first live point, then the live ones. PURE. */
export function seedSparkPoints(live: Readonly<Record<string, SparkPoint[]>>, history: Record<string, { t: number[]; conns: (number | null)[] }>): Record<string, SparkPoint[]> {
  const out: Record<string, SparkPoint[]> = { ...live };
  for (const [key, h] of Object.entries(history)) {
    const mine = live[key] ?? [];
    const firstLive = mine[0]?.t ?? Infinity;
    const older = h.t.flatMap((t, i) => (t < firstLive ? [{ t, v: h.conns[i] ?? null }] : []));
    out[key] = [...older, ...mine];
  }
  return out;
}
