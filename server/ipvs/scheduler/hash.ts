// The hashes and bucket tables of IPVS's hashing schedulers (sh, dh), as Linux 6.1 computes them, so that the
// explainer can say which real server a given client (sh) or destination address (dh) lands on.
//
// include/linux/hash.h (x86 has no arch override):
//     #define GOLDEN_RATIO_32 0x61C88647
//     hash_32(val, bits) = (u32)(val * GOLDEN_RATIO_32) >> (32 - bits)
// net/netfilter/ipvs/ip_vs_sh.c:
//     ip_vs_sh_hashkey(af, addr, port, offset)
//         = (offset + hash_32(ntohs(port) + ntohl(addr_fold), IP_VS_SH_TAB_BITS)) & IP_VS_SH_TAB_MASK
//     addr_fold = the IPv4 address, or the XOR of an IPv6 address's four 32-bit words
//     IP_VS_SH_TAB_BITS = CONFIG_IP_VS_SH_TAB_BITS (8 in Debian's config and the Kconfig default): 256 buckets
// net/netfilter/ipvs/ip_vs_dh.c: ip_vs_dh_hashkey(af, addr) = hash_32(ntohl(addr_fold), IP_VS_DH_TAB_BITS)
//
// Kernels before the hash_32 change used `(ntohl(addr_fold) * 2654435761UL) & MASK` (the low bits of a
// multiplicative hash) instead; 6.1 has hash_32, and test/kernel/scheduler.test.ts checks it against the kernel.
//
// The bucket table (ip_vs_sh_reassign / ip_vs_dh_reassign) walks the service's destination list in the kernel's
// order and gives each real server `weight` consecutive buckets (at least one: a weight-0 server still holds a
// bucket, and a client hashed to it gets no server unless the fallback flag is set), wrapping round the list
// until all buckets are filled. The table is rebuilt on every destination add, edit or delete.
import { parseIPv4, parseIPv6Groups } from "@/server/ipvs/proc/addr";

export const GOLDEN_RATIO_32 = 0x61c88647;
export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;

/** hash_32(val, bits) of include/linux/hash.h. */
export function hash32(val: number, bits: number): number {
  return Math.imul(val >>> 0, GOLDEN_RATIO_32) >>> 0 >>> (32 - bits);
}

/** ntohl(addr_fold): the IPv4 address as a host-order u32, or the XOR of an IPv6 address's words. Null if not an address. */
export function foldAddress(address: string): number | null {
  const v4 = parseIPv4(address);
  if (v4 !== null) return v4 >>> 0;
  const g = parseIPv6Groups(address);
  if (g === null) return null;
  // XOR of the four big-endian words, then ntohl: the same as XOR-ing the host-order words.
  let fold = 0;
  for (let i = 0; i < 8; i += 2) fold ^= (((g[i] as number) << 16) | (g[i + 1] as number)) >>> 0;
  return fold >>> 0;
}

/** ip_vs_sh_hashkey(af, addr, port, offset). */
export function shHashKey(fold: number, port: number, offset: number): number {
  return (offset + hash32((port + fold) >>> 0, SH_TAB_BITS)) & (SH_TAB_SIZE - 1);
}

/** ip_vs_dh_hashkey(af, addr). */
export function dhHashKey(fold: number): number {
  return hash32(fold, SH_TAB_BITS);
}

/**
 * ip_vs_sh_reassign / ip_vs_dh_reassign: bucket -> index into `weights` (the destination list in the kernel's
 * order); -1 for every bucket when there is no destination.
 */
export function hashBuckets(weights: readonly number[]): Int32Array {
  const table = new Int32Array(SH_TAB_SIZE).fill(-1);
  if (weights.length === 0) return table;
  let d = 0;
  let count = 0;
  for (let i = 0; i < SH_TAB_SIZE; i++) {
    table[i] = d;
    // "Don't move to next dest until filling weight": ++d_count >= weight (so weight <= 0 gets one bucket).
    if (++count >= (weights[d] as number)) {
      d = (d + 1) % weights.length;
      count = 0;
    }
  }
  return table;
}
