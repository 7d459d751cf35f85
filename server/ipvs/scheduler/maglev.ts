// The Maglev lookup table of net/netfilter/ipvs/ip_vs_mh.c (Linux 6.1), reproduced so that the explainer can
// say which real server a client lands on under `mh`.
//
//   hash key      ip_vs_mh_hashkey(af, addr, port, key, offset) = hsiphash(&v, 4, key),
//                 v = offset + ntohs(port) + ntohl(addr_fold)   (a u32 in host order: little-endian bytes on x86)
//   keys          generate_hash_secret(): hash1 = {2654435761, 2654435761}, hash2 = {2654446892, 2654446892}
//                 (fixed: every director builds the same table for the same real servers)
//   table size    M = primes[CONFIG_IP_VS_MH_TAB_INDEX - 8] = primes[4] = 4093 (Kconfig default 12)
//   permutation   per real server, in list order: offset = hashkey(dest addr, dest port, hash1) % M,
//                 skip = hashkey(dest addr, dest port, hash2) % (M - 1) + 1,
//                 turns = ((last_weight / gcd) >> rshift) ?: (last_weight != 0)
//                 gcd over the positive last_weights; rshift = max(0, fls(max last_weight / gcd) - 6)
//   populate      round after round over the list, each server with turns >= 1 takes `turns` consecutive slots,
//                 each its next free preferred slot (perm += skip mod M), until all M slots are taken
//   lookup        slot = hashkey(client addr, client port if mh-port else 0, hash1) % M; a weight-0 or
//                 overloaded server there drops the connection, unless mh-fallback walks on as sh does
//
// hsiphash on 64-bit kernels is SipHash-1-3 over 64-bit words (lib/siphash.c: "on 64-bit, we make
// HalfSipHash1-3 actually be SipHash1-3"), returning the low 32 bits of v0^v1^v2^v3. The keys are unsigned long.
// last_weight is the latest non-zero weight a server was given (__ip_vs_update_dest), which a quiesced server's
// current weight 0 does not tell: the caller passes what it knows.

const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & M64;

export const MH_TAB_SIZE = 4093;
const MH_TAB_BITS = 12 / 2;
const HASH1: [bigint, bigint] = [2654435761n, 2654435761n];
const HASH2: [bigint, bigint] = [2654446892n, 2654446892n];

/** SIPROUND of include/linux/siphash.h / lib/siphash.c, on [v0, v1, v2, v3] in place. */
export function sipRound(v: [bigint, bigint, bigint, bigint]): void {
  let [v0, v1, v2, v3] = v;
  v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
  v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
  v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
  v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  v[0] = v0; v[1] = v1; v[2] = v2; v[3] = v3;
}

/** hsiphash(&v, 4, key) on a 64-bit little-endian kernel: SipHash-1-3, low 32 bits. */
export function hsiphash32(value: number, key: readonly [bigint, bigint]): number {
  const v: [bigint, bigint, bigint, bigint] = [
    0x736f6d6570736575n ^ key[0], 0x646f72616e646f6dn ^ key[1], 0x6c7967656e657261n ^ key[0], 0x7465646279746573n ^ key[1],
  ];
  // len 4 < 8: no full word; the tail (le32 of the value) and len << 56 make b.
  const b = (4n << 56n) | BigInt(value >>> 0);
  v[3] ^= b;
  sipRound(v);
  v[0] ^= b;
  v[2] ^= 0xffn;
  sipRound(v);
  sipRound(v);
  sipRound(v);
  return Number((v[0] ^ v[1] ^ v[2] ^ v[3]) & 0xffffffffn);
}

const mhKey = (fold: number, port: number, key: readonly [bigint, bigint], offset = 0) =>
  hsiphash32((offset + port + fold) >>> 0, key);

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const fls = (x: number) => (x === 0 ? 0 : 32 - Math.clz32(x));

export interface MhDest {
  /** ntohl(addr_fold) of the real server's address. */
  fold: number;
  port: number;
  /** The latest non-zero weight (the current weight unless the server is quiesced). */
  lastWeight: number;
}

/** ip_vs_mh_permutate + ip_vs_mh_populate: slot -> index into dests (-1 when no server has a turn). */
export function maglevTable(dests: readonly MhDest[]): Int32Array {
  const table = new Int32Array(MH_TAB_SIZE).fill(-1);
  const g = dests.reduce((acc, d) => (d.lastWeight > 0 ? (acc > 0 ? gcd(d.lastWeight, acc) : d.lastWeight) : acc), 0);
  if (g < 1) return table;
  const mw = Math.max(...dests.map((d) => d.lastWeight)) / g;
  const rshift = Math.max(0, fls(Math.floor(mw)) - MH_TAB_BITS);
  const setup = dests.map((d) => {
    const offset = mhKey(d.fold, d.port, HASH1) % MH_TAB_SIZE;
    const skip = (mhKey(d.fold, d.port, HASH2) % (MH_TAB_SIZE - 1)) + 1;
    const t = Math.floor(d.lastWeight / g) >> rshift;
    return { perm: offset, skip, turns: t !== 0 ? t : d.lastWeight !== 0 ? 1 : 0 };
  });
  if (!setup.some((s) => s.turns >= 1)) return table;
  const taken = new Uint8Array(MH_TAB_SIZE);
  let n = 0;
  let dtCount = 0;
  while (n < MH_TAB_SIZE) {
    for (let i = 0; i < setup.length; ) {
      const s = setup[i] as (typeof setup)[number];
      if (s.turns < 1) {
        i++;
        continue;
      }
      let c = s.perm;
      while (taken[c]) {
        s.perm += s.skip;
        if (s.perm >= MH_TAB_SIZE) s.perm -= MH_TAB_SIZE;
        c = s.perm;
      }
      taken[c] = 1;
      table[c] = i;
      if (++n === MH_TAB_SIZE) return table;
      // dt_count: a server keeps the turn for `turns` slots in a row, then the next one goes.
      if (++dtCount >= s.turns) {
        dtCount = 0;
        i++;
      }
    }
  }
  return table;
}

/** ip_vs_mh_get / ip_vs_mh_get_fallback's first slot for a client. */
export function mhSlot(fold: number, port: number, offset = 0): number {
  return mhKey(fold, port, HASH1, offset) % MH_TAB_SIZE;
}
