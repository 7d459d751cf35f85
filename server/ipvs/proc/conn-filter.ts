// Filters over the connection table: which entries a summary counts or a page shows. Compiled once into
// a predicate over the parser's reused ConnRow, comparing numbers for IPv4 and the kernel's full %pI6
// text for IPv6, so that matching costs no allocation per line.

import { parseIPv4, parseIPv6Groups } from "./addr";
import type { ConnRow } from "./conn";

export interface ConnFilter {
  /** "TCP", "UDP", "SCTP", "IP", ... */
  protocol?: string;
  /** The virtual address (and port) the entries carry. */
  virtual?: { address: string; port?: number };
  /** The real server (destination). */
  real?: { address: string; port?: number };
  /** Client address range: "203.0.113.0/24", "2001:db8::/32", or one address. */
  clientCidr?: string;
  /** Any of these states. */
  states?: readonly string[];
  /** Persistence templates: left out by default. */
  templates?: "exclude" | "include" | "only";
}

export class ConnFilterError extends Error {
  override name = "ConnFilterError";
}

/** An address in the form the parser holds: a u32, or the kernel's full IPv6 text. */
type HeldAddress = { family: 4; v4: number } | { family: 6; v6: string; groups: number[] };

function holdAddress(text: string, what: string): HeldAddress {
  const v4 = parseIPv4(text);
  if (v4 !== null) return { family: 4, v4 };
  const groups = parseIPv6Groups(text);
  if (groups === null) throw new ConnFilterError(`${what}: "${text}" is not an IPv4 or IPv6 address`);
  return { family: 6, v6: groups.map((g) => g.toString(16).padStart(4, "0")).join(":"), groups };
}

function addressMatches(held: HeldAddress, family: 4 | 6, v4: number, v6: string): boolean {
  return held.family === 4 ? family === 4 && v4 === held.v4 : family === 6 && v6 === held.v6;
}

/** Compiles a filter into a predicate over the parser's rows. Throws ConnFilterError on a bad filter. */
export function compileConnFilter(filter: ConnFilter): (row: ConnRow) => boolean {
  const checks: ((row: ConnRow) => boolean)[] = [];
  const templates = filter.templates ?? "exclude";
  if (templates === "exclude") checks.push((r) => !r.template);
  if (templates === "only") checks.push((r) => r.template);
  if (filter.protocol !== undefined) {
    const want = filter.protocol.toUpperCase() === "ICMPV6" ? "ICMPv6" : filter.protocol.toUpperCase();
    checks.push((r) => r.protocol === want);
  }
  if (filter.states && filter.states.length > 0) {
    const want = new Set(filter.states.map((s) => s.toUpperCase()));
    checks.push((r) => want.has(r.state));
  }
  if (filter.virtual) {
    const held = holdAddress(filter.virtual.address, "virtual service");
    const port = filter.virtual.port;
    checks.push(
      (r) => addressMatches(held, r.family, r.virtual4, r.virtual6) && (port === undefined || r.virtualPort === port),
    );
  }
  if (filter.real) {
    const held = holdAddress(filter.real.address, "real server");
    const port = filter.real.port;
    checks.push(
      (r) => addressMatches(held, r.destFamily, r.dest4, r.dest6) && (port === undefined || r.destPort === port),
    );
  }
  if (filter.clientCidr !== undefined) checks.push(cidrCheck(filter.clientCidr));
  return (row) => {
    for (const check of checks) if (!check(row)) return false;
    return true;
  };
}

function cidrCheck(cidr: string): (row: ConnRow) => boolean {
  const slash = cidr.indexOf("/");
  const addr = slash < 0 ? cidr : cidr.slice(0, slash);
  const held = holdAddress(addr, "client range");
  const max = held.family === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
  if (bits < 0 || bits > max) throw new ConnFilterError(`client range: prefix length "${bitsText}" is not 0..${max}`);
  if (held.family === 4) {
    // Two's-complement shift: /0 matches everything.
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    const net = (held.v4 & mask) >>> 0;
    return (r) => r.family === 4 && (r.client4 & mask) >>> 0 === net;
  }
  const want = held.groups;
  return (r) => {
    if (r.family !== 6) return false;
    const groups = parseIPv6Groups(r.client6);
    if (groups === null) return false;
    for (let i = 0, left = bits; left > 0; i++, left -= 16) {
      const m = left >= 16 ? 0xffff : (0xffff << (16 - left)) & 0xffff;
      if (((groups[i] as number) & m) !== ((want[i] as number) & m)) return false;
    }
    return true;
  };
}

