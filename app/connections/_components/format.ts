// Plain-text helpers of the connections page: the filter it sends, ages, sizes. Pure (tested in
// test/ipvs/conntable/page-format.test.ts).
import type { RouterInputs } from "@/app/_trpc/react";

export type ConnFilter = NonNullable<RouterInputs["connections"]["page"]["filter"]>;

/** What the page's controls hold; "" = no filter on that field. */
export interface FilterState {
  /** "TCP 192.0.2.100:80" as the summary's byVirtual row keys it. */
  virtual: string;
  /** "198.51.100.11:80". */
  real: string;
  clientCidr: string;
  states: string[];
}

export const NO_FILTER: FilterState = { virtual: "", real: "", clientCidr: "", states: [] };

/** "192.0.2.100:80" / "[2001:db8::1]:80" -> { address, port }; null if it is neither. */
export function splitHostPort(text: string): { address: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) return null;
  return { address: m[1] as string, port: Number(m[2]) };
}

export const hostPort = (address: string, port: number) => (address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`);

/** The filter the agent gets: only the fields set; the virtual service's protocol becomes a protocol filter. */
export function toQueryFilter(f: FilterState): ConnFilter {
  const out: ConnFilter = {};
  if (f.virtual) {
    const [protocol = "", rest = ""] = f.virtual.split(" ");
    const hp = splitHostPort(rest);
    if (hp) {
      out.virtual = hp;
      if (protocol) out.protocol = protocol;
    }
  }
  if (f.real) {
    const hp = splitHostPort(f.real);
    if (hp) out.real = hp;
  }
  const cidr = f.clientCidr.trim();
  if (cidr) out.clientCidr = cidr;
  if (f.states.length > 0) out.states = [...f.states];
  return out;
}

export const isFiltered = (f: FilterState) => f.virtual !== "" || f.real !== "" || f.clientCidr.trim() !== "" || f.states.length > 0;

/** A client range as typed: an IPv4 or IPv6 address with an optional /prefix. Null = fine, else why not. */
export function cidrProblem(text: string): string | null {
  const t = text.trim();
  if (t === "") return null;
  const [addr = "", bits, extra] = t.split("/");
  if (extra !== undefined) return "one / at most";
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  const v6 = !v4 && /^[0-9a-fA-F:]+$/.test(addr) && addr.includes(":");
  if (!v4 && !v6) return "not an IPv4 or IPv6 address";
  if (v4 && v4.slice(1).some((o) => Number(o) > 255)) return "an IPv4 octet is above 255";
  if (bits !== undefined) {
    const max = v4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `prefix length must be 0 to ${max}`;
  }
  return null;
}

/** "3 s", "4 min 10 s", "2 h 5 min". */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

/** "812 B", "4.1 KB", "65.3 MB". */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}
