// Addresses as IPVS carries them: union nf_inet_addr, 16 bytes whatever the family, an IPv4 address in the
// first 4. Text forms match what ipvsadm prints (glibc inet_ntop): IPv6 with the longest run of two or more
// zero groups as "::", and the IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) forms written
// with a dotted tail.
import { AF_INET, AF_INET6 } from "./constants";

export type AddressFamily = "inet" | "inet6";

export const afNumber = (f: AddressFamily): number => (f === "inet" ? AF_INET : AF_INET6);

export function afName(n: number): AddressFamily | undefined {
  return n === AF_INET ? "inet" : n === AF_INET6 ? "inet6" : undefined;
}

export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

export function parseIPv6(s: string): Uint8Array | undefined {
  let text = s;
  const words: number[] = [];
  // A dotted IPv4 tail stands for the last two groups.
  const lastColon = text.lastIndexOf(":");
  const tail = text.slice(lastColon + 1);
  let v4: Uint8Array | undefined;
  if (tail.includes(".")) {
    v4 = parseIPv4(tail);
    if (!v4 || lastColon < 0) return undefined;
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return undefined;
  if (halves.length === 2) {
    if (head.length + rest.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest);
  } else {
    if (head.length !== 8) return undefined;
    words.push(...head);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

/** The 16-byte nf_inet_addr for `address`, or undefined if it is not an address of that family. */
export function encodeInetAddr(family: AddressFamily, address: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const b = family === "inet" ? parseIPv4(address) : parseIPv6(address);
  if (!b) return undefined;
  out.set(b, 0);
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return formatIPv4At(b, 0);
}

/** The IPv4 address in the 4 bytes at `at` (read in place: a snapshot formats one per service and destination). */
export function formatIPv4At(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

export function formatIPv6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  // Longest run of zero groups (first one on a tie), compressed only if at least two long: glibc inet_ntop.
  let best = { base: -1, len: 0 };
  let cur = { base: -1, len: 0 };
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      cur = cur.base < 0 ? { base: i, len: 1 } : { base: cur.base, len: cur.len + 1 };
      if (cur.len > best.len) best = cur;
    } else cur = { base: -1, len: 0 };
  }
  if (best.len < 2) best = { base: -1, len: 0 };
  let out = "";
  for (let i = 0; i < 8; i++) {
    if (best.base >= 0 && i >= best.base && i < best.base + best.len) {
      if (i === best.base) out += ":";
      continue;
    }
    if (i > 0) out += ":";
    // Encapsulated IPv4: ::a.b.c.d (compatible) or ::ffff:a.b.c.d (mapped).
    if (i === 6 && best.base === 0 && (best.len === 6 || (best.len === 5 && w[5] === 0xffff))) {
      out += formatIPv4(b.subarray(12, 16));
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best.base >= 0 && best.base + best.len === 8) out += ":";
  return out;
}

export function formatInetAddr(family: AddressFamily, b: Uint8Array): string {
  return formatInetAddrAt(family, b, 0);
}

/** The nf_inet_addr of `family` in the 16 bytes at `at` (the caller checked there are 16). */
export function formatInetAddrAt(family: AddressFamily, b: Uint8Array, at: number): string {
  return family === "inet" ? formatIPv4At(b, at) : formatIPv6(at === 0 && b.length === 16 ? b : b.subarray(at, at + 16));
}
