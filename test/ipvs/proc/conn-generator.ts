// Synthetic /proc/net/ip_vs_conn and ip_vs_conn_sync files in the kernel's exact format, for the streaming
// reader's tests and benchmark. The format strings are those of ip_vs_conn_seq_show() and
// ip_vs_conn_sync_seq_show() (net/netfilter/ipvs/ip_vs_conn.c):
//   "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n"          (IPv6: %pI6 for the addresses)
//   "%-3s %08X %04X %08X %04X %s %04X %-11s %-6s %7u\n"
// Also a deliberately simple split/regex parser: the baseline the benchmark compares against, and an
// independent oracle for the byte-level parser's counts.

import { SCTP_STATES, TCP_STATES } from "@/server/ipvs/proc/conn";

export const CONN_HEADER = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";
export const CONN_SYNC_HEADER = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n";

export interface ConnGenOptions {
  lines: number;
  seed?: number;
  /** Virtual services (IPv4 198.51.100.x, IPv6 2001:db8:1::x). */
  services?: number;
  realServersPerService?: number;
  /** Distinct client addresses to draw from (203.0.113.0/24 and up, wrapping into 10.x for many). */
  clients?: number;
  /** Shares of the lines (0..1). */
  ipv6Share?: number;
  templateShare?: number;
  peShare?: number;
  sync?: boolean;
}

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex8 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, "0");
const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
/** %pI6: 8 groups of 4 lower-case hex digits. */
const full6 = (groups: number[]) => groups.map((g) => g.toString(16).padStart(4, "0")).join(":");

/** Generates the whole file (header included) as one Buffer. */
export function generateConnFile(options: ConnGenOptions): Buffer {
  const random = rng(options.seed ?? 1);
  const services = options.services ?? 8;
  const reals = options.realServersPerService ?? 4;
  const clients = options.clients ?? 50_000;
  const v6Share = options.ipv6Share ?? 0.05;
  const templateShare = options.templateShare ?? 0.02;
  const peShare = options.peShare ?? 0.01;
  const sync = options.sync ?? false;
  const pick = (n: number) => Math.floor(random() * n);
  // Zipf-like client popularity: a few clients own many entries, as on a real director.
  const client = () => Math.floor(clients * random() ** 3);

  const parts: Buffer[] = [Buffer.from(sync ? CONN_SYNC_HEADER : CONN_HEADER)];
  let batch: string[] = [];
  for (let i = 0; i < options.lines; i++) {
    const svc = pick(services);
    const real = pick(reals);
    const c = client();
    const v6 = random() < v6Share;
    const template = random() < templateShare;
    const r = random();
    const protocol = template && r < 0.3 ? "IP" : r < 0.7 ? "TCP" : r < 0.95 ? "UDP" : "SCTP";
    const state = template
      ? random() < 0.5
        ? "NONE"
        : "ASSURED"
      : protocol === "TCP"
        ? (TCP_STATES[pick(TCP_STATES.length)] as string)
        : protocol === "UDP"
          ? "UDP"
          : (SCTP_STATES[pick(SCTP_STATES.length)] as string);
    const vport = protocol === "IP" ? 0 : [80, 443, 53, 2905][svc % 4] as number;
    const cport = template ? 0 : 1024 + pick(64_000);
    const dport = protocol === "IP" ? 0 : vport;
    const expires = pick(900);
    let caddr: string;
    let vaddr: string;
    let daddr: string;
    if (v6) {
      caddr = full6([0x2001, 0xdb8, 0xc, c >>> 16, c & 0xffff, 0, 0, 1 + (c % 7)]);
      vaddr = protocol === "IP" ? full6([0, 0, 0, 0, 0, 0, 0, 1 + svc]) : full6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100 + svc]);
      daddr = full6([0x2001, 0xdb8, 2, 0, 0, 0, svc, 0x10 + real]);
    } else {
      // 203.0.113.0/24 first, then onwards (synthetic only: never sent anywhere).
      caddr = hex8(0xcb007100 + c);
      vaddr = protocol === "IP" ? hex8(1 + svc) : hex8(0xc6336400 + 0x10 + svc);
      daddr = hex8(0xc0000200 + 16 * svc + 11 + real);
    }
    const pe = !sync && !template && protocol === "UDP" && random() < peShare ? ` sip ${i}-call@192.0.2.5` : "";
    const head = `${protocol.padEnd(3)} ${caddr} ${hex4(cport)} ${vaddr} ${hex4(vport)} ${daddr} ${hex4(dport)} ${state.padEnd(11)}`;
    batch.push(
      sync ? `${head} ${(i % 97 === 0 ? "SYNC" : "LOCAL").padEnd(6)} ${String(expires).padStart(7)}\n` : `${head} ${String(expires).padStart(7)}${pe}\n`,
    );
    if (batch.length === 10_000) {
      parts.push(Buffer.from(batch.join(""), "latin1"));
      batch = [];
    }
  }
  parts.push(Buffer.from(batch.join(""), "latin1"));
  return Buffer.concat(parts);
}

/** Splits a buffer into chunks of `size` bytes (views, no copies), like a stream would deliver it. */
export function* chunks(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

// ---------------------------------------------------------------------------------------------------
// The naive reader: toString, split, one regular expression a line, string keys.

const LINE_RE =
  /^(\S+)\s+([0-9A-Fa-f:]+)\s+([0-9A-F]{4})\s+([0-9A-Fa-f:]+)\s+([0-9A-F]{4})\s+([0-9A-Fa-f:]+)\s+([0-9A-F]{4})\s+(\S+)\s+(?:(LOCAL|SYNC)\s+)?(\d+)(?: (\S+) (.*))?$/;

export interface NaiveSummary {
  entries: number;
  malformed: number;
  byState: Map<string, number>;
  byVirtual: Map<string, number>;
  byReal: Map<string, number>;
  clients: Map<string, number>;
  templates: number;
}

const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

export function naiveSummarize(buf: Buffer): NaiveSummary {
  const out: NaiveSummary = {
    entries: 0,
    malformed: 0,
    byState: new Map(),
    byVirtual: new Map(),
    byReal: new Map(),
    clients: new Map(),
    templates: 0,
  };
  for (const line of buf.toString("latin1").split("\n")) {
    if (line === "" || line.startsWith("Pro ")) continue;
    const m = LINE_RE.exec(line);
    if (!m) {
      out.malformed++;
      continue;
    }
    out.entries++;
    const [, proto = "", caddr = "", cport = "", vaddr = "", vport = "", daddr = "", dport = "", state = ""] = m;
    if (proto === "IP" || (cport === "0000" && (state === "NONE" || state === "ASSURED"))) {
      out.templates++;
      continue;
    }
    bump(out.byState, state);
    bump(out.byVirtual, `${proto} ${vaddr} ${Number.parseInt(vport, 16)}`);
    bump(out.byReal, `${daddr} ${Number.parseInt(dport, 16)}`);
    bump(out.clients, caddr);
  }
  return out;
}
