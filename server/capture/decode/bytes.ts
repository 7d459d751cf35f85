// Shared pieces of the packet decoders: the status every decoder returns, big-endian readers, and the
// display forms of the numbers the decoders produce (MACs as 48-bit numbers, IPv4 as u32, IPv6 as a
// 16-byte view given by buffer + offset).
//
// Why numbers and offsets instead of objects and sub-arrays: a capture runs millions of packets a second
// through these functions. A MAC fits exactly in a double (2^48 < 2^53) and is a cheap Map key; an
// offset into the caller's buffer is a sub-view that costs no allocation (a `subarray` is a new object
// per layer per packet). `view()` turns an offset range into a real sub-array when one is wanted.

import { formatIPv4 as formatIPv4Number, formatIPv6Groups, parseIPv4 as parseIPv4Text } from "@/server/ipvs/proc/addr";

/** Every layer decoded. */
export const OK = 0;
/** Fewer bytes than the header needs: the frame was cut (snaplen, a short read), not wrong. */
export const TRUNCATED = 1;
/** The bytes are there but contradict the protocol (IPv4 IHL < 5, TCP data offset < 5, ...). */
export const MALFORMED = 2;
/** Well-formed, but a variant these decoders do not take apart (ARP for non-Ethernet hardware, ...). */
export const UNSUPPORTED = 3;
export type DecodeStatus = typeof OK | typeof TRUNCATED | typeof MALFORMED | typeof UNSUPPORTED;

export const STATUS_NAMES = ["ok", "truncated", "malformed", "unsupported"] as const;

// Readers. Callers check the length first; the `!` only tells the type checker what that check proved.
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
/** Six bytes as a 48-bit number (exact in a double). */
export function u48(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!) * 0x1_0000_0000 + u32(b, o + 2);
}

/** A sub-array of `b` (shares memory; valid only as long as `b` holds this packet). */
export function view(b: Uint8Array, start: number, end: number): Uint8Array {
  return b.subarray(start, end);
}

/** 0x020000000012 -> "02:00:00:00:00:12" (tcpdump's form). */
export function formatMac(mac: number): string {
  const hex = mac.toString(16).padStart(12, "0");
  return hex.replace(/(..)(?!$)/g, "$1:");
}

/** "02:00:00:00:00:12" (or with "-") -> 48-bit number; null if not a MAC. */
export function parseMac(text: string): number | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  return m === null ? null : Number.parseInt(m.slice(1).join(""), 16);
}

/** True for group (multicast and broadcast) MACs: the I/G bit, the low bit of the first byte. */
export function isGroupMac(mac: number): boolean {
  return Math.floor(mac / 0x100_0000_0000) % 2 === 1;
}

export const formatIPv4 = formatIPv4Number;
export const parseIPv4 = parseIPv4Text;

/** The 16 bytes at `b[o]` as RFC 5952 text ("2001:db8::1"). */
export function formatIPv6(b: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(u16(b, o + i));
  return formatIPv6Groups(groups);
}
