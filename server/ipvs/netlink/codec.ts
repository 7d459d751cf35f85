// Encoders and decoders between IPVS attribute streams and the types in ./types. Pure functions: the client
// (./client.ts) sends and receives through a GenlTransport, the tests feed these raw kernel replies.
//
// A service reply, as ip_vs_genl_fill_service writes it (message cmd IPVS_CMD_NEW_SERVICE):
//
//   IPVS_CMD_ATTR_SERVICE (nested)
//     IPVS_SVC_ATTR_AF u16 | FWMARK u32, or PROTOCOL u16 + ADDR 16 bytes + PORT be16
//     SCHED_NAME "wlc\0" | PE_NAME "sip\0" (if any) | FLAGS {u32 flags; u32 mask = ~0}
//     TIMEOUT u32 seconds | NETMASK 4 bytes (IPv4 mask, network order; IPv6 prefix, host order)
//     STATS (nested, u32 counters + u64 bytes) | STATS64 (nested, all u64)
//
// A destination (ip_vs_genl_fill_dest, cmd IPVS_CMD_NEW_DEST): ADDR, PORT, FWD_METHOD, WEIGHT, TUN_TYPE u8,
// TUN_PORT be16, TUN_FLAGS u16, U_THRESH, L_THRESH, ACTIVE/INACT/PERSIST_CONNS, ADDR_FAMILY, STATS, STATS64.
//
// Decoders never throw on bad input: they return { ok: false, problem } with the first length or value
// problem (see AttrCursor), and keep attributes they do not know in `unknown`.
import { AttrCursor, AttrEncoder, HOST_LITTLE_ENDIAN, NLA_HDRLEN, align4, type DecodeProblem, type RawAttr } from "@/server/kernel/genl/attrs";
import { afName, afNumber, encodeInetAddr, formatInetAddrAt, formatIPv4, formatIPv4At, formatIPv6, parseIPv4, parseIPv6, type AddressFamily } from "./addr";
import {
  FWD_METHOD,
  IPPROTO,
  IPVS_CMD_ATTR,
  IPVS_DAEMON_ATTR,
  IPVS_DEST_ATTR,
  IPVS_INFO_ATTR,
  IPVS_STATS_ATTR,
  IPVS_SVC_ATTR,
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_STATE,
  IP_VS_SVC_F,
  IP_VS_SVC_F_USER_MASK,
  IP_VS_TUNNEL_ENCAP_FLAG,
  STATS32_U32_IDS,
  TUNNEL_TYPE,
  attrName,
  type ForwardMethod,
  type TunnelType,
} from "./constants";
import {
  isFwmarkService,
  type Destination,
  type DestinationConfig,
  type IpvsInfo,
  type Netmask,
  type Protocol,
  type Service,
  type ServiceConfig,
  type ServiceExtended,
  type ServiceFlags,
  type Stats,
  type SyncDaemon,
  type Timeouts,
} from "./types";

export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: DecodeProblem };

const done = <T>(c: AttrCursor, value: T): Decoded<T> => (c.problem ? { ok: false, problem: c.problem } : { ok: true, value });

/** Thrown by encoders for input the kernel would misread (an address of the wrong family, a port > 65535):
 *  the client turns it into an "invalid" IpvsError before anything is sent. */
export class EncodeError extends Error {
  override name = "EncodeError";
}

function u32In(what: string, v: number, max = 0xffffffff): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EncodeError(`${what} must be an integer from 0 to ${max}, got ${v}`);
  return v;
}

function addrBytes(family: AddressFamily, address: string, what: string): Uint8Array {
  const b = encodeInetAddr(family, address);
  if (!b) throw new EncodeError(`${what} "${address}" is not an ${family === "inet" ? "IPv4" : "IPv6"} address`);
  return b;
}

// ---------------------------------------------------------------------------------------------------------
// Stats

const STATS_FIELDS: readonly [number, keyof Omit<Stats, "width">][] = [
  [IPVS_STATS_ATTR.CONNS.id, "conns"],
  [IPVS_STATS_ATTR.INPKTS.id, "inPkts"],
  [IPVS_STATS_ATTR.OUTPKTS.id, "outPkts"],
  [IPVS_STATS_ATTR.INBYTES.id, "inBytes"],
  [IPVS_STATS_ATTR.OUTBYTES.id, "outBytes"],
  [IPVS_STATS_ATTR.CPS.id, "cps"],
  [IPVS_STATS_ATTR.INPPS.id, "inPps"],
  [IPVS_STATS_ATTR.OUTPPS.id, "outPps"],
  [IPVS_STATS_ATTR.INBPS.id, "inBps"],
  [IPVS_STATS_ATTR.OUTBPS.id, "outBps"],
];

const statsName = (t: number) => attrName(IPVS_STATS_ATTR, "IPVS_STATS_ATTR_", t);
const svcName = (t: number) => attrName(IPVS_SVC_ATTR, "IPVS_SVC_ATTR_", t);
const destName = (t: number) => attrName(IPVS_DEST_ATTR, "IPVS_DEST_ATTR_", t);
const cmdAttrName = (t: number) => attrName(IPVS_CMD_ATTR, "IPVS_CMD_ATTR_", t);

// The decoders' switches on constants (module-level, so the compiler sees numbers, not property loads).
const STATS_CONNS = IPVS_STATS_ATTR.CONNS.id;
const STATS_INPKTS = IPVS_STATS_ATTR.INPKTS.id;
const STATS_OUTPKTS = IPVS_STATS_ATTR.OUTPKTS.id;
const STATS_INBYTES = IPVS_STATS_ATTR.INBYTES.id;
const STATS_OUTBYTES = IPVS_STATS_ATTR.OUTBYTES.id;
const STATS_CPS = IPVS_STATS_ATTR.CPS.id;
const STATS_INPPS = IPVS_STATS_ATTR.INPPS.id;
const STATS_OUTPPS = IPVS_STATS_ATTR.OUTPPS.id;
const STATS_INBPS = IPVS_STATS_ATTR.INBPS.id;
const STATS_OUTBPS = IPVS_STATS_ATTR.OUTBPS.id;

/** Decodes one stats nest. In the 32-bit nest (ip_vs_genl_fill_stats) counters and rates are u32 and the
 *  byte counts u64; in STATS64 everything is u64. PAD is skipped; unknown counters are ignored. One switch
 *  into locals and one object literal at the end: every Stats has the same shape, and a snapshot decodes one
 *  per service and per destination. */
export function decodeStats(c: AttrCursor, width: 64 | 32): Stats {
  const narrow = width === 32;
  let conns = 0n, inPkts = 0n, outPkts = 0n, inBytes = 0n, outBytes = 0n;
  let cps = 0n, inPps = 0n, outPps = 0n, inBps = 0n, outBps = 0n;
  c.names(statsName);
  while (c.next()) {
    switch (c.type) {
      case STATS_CONNS: conns = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_INPKTS: inPkts = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_OUTPKTS: outPkts = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_INBYTES: inBytes = c.u64(); break;
      case STATS_OUTBYTES: outBytes = c.u64(); break;
      case STATS_CPS: cps = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_INPPS: inPps = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_OUTPPS: outPps = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_INBPS: inBps = narrow ? BigInt(c.u32()) : c.u64(); break;
      case STATS_OUTBPS: outBps = narrow ? BigInt(c.u32()) : c.u64(); break;
    }
  }
  return { conns, inPkts, outPkts, inBytes, outBytes, cps, inPps, outPps, inBps, outBps, width };
}

/** Writes a stats nest as the kernel does: u32 counters truncated like its (u32) casts in the 32-bit nest. */
export function encodeStats(e: AttrEncoder, type: number, s: Stats, width: 64 | 32): void {
  e.nested(type, (n) => {
    for (const [id, field] of STATS_FIELDS) {
      if (width === 32 && STATS32_U32_IDS.has(id)) n.u32(id, Number(BigInt.asUintN(32, s[field])));
      else n.u64(id, s[field]);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Services

const PROTOCOL_BY_NUMBER = new Map<number, Protocol>(Object.entries(IPPROTO).map(([k, v]) => [v, k as Protocol]));

function flagsOf(raw: number): ServiceFlags {
  return {
    persistent: (raw & IP_VS_SVC_F.PERSISTENT) !== 0,
    hashed: (raw & IP_VS_SVC_F.HASHED) !== 0,
    onePacket: (raw & IP_VS_SVC_F.ONEPACKET) !== 0,
    sched1: (raw & IP_VS_SVC_F.SCHED1) !== 0,
    sched2: (raw & IP_VS_SVC_F.SCHED2) !== 0,
    sched3: (raw & IP_VS_SVC_F.SCHED3) !== 0,
    raw,
  };
}

export function netmaskBytes(family: AddressFamily, m: Netmask | undefined): Uint8Array {
  const out = new Uint8Array(4);
  if (family === "inet") {
    if (m && m.kind !== "mask") throw new EncodeError("an IPv4 service's netmask is a mask such as 255.255.255.0");
    const b = parseIPv4(m?.mask ?? "255.255.255.255");
    if (!b) throw new EncodeError(`netmask "${m?.mask}" is not an IPv4 mask`);
    out.set(b);
  } else {
    if (m && m.kind !== "prefix") throw new EncodeError("an IPv6 service's netmask is a prefix length (1..128)");
    const prefix = m?.prefix ?? 128;
    if (!Number.isInteger(prefix) || prefix < 1 || prefix > 128) throw new EncodeError(`IPv6 prefix length must be 1..128, got ${prefix}`);
    // ipvsadm passes the prefix length as a host-order u32 in the __be32 field; the kernel reads it back as is.
    new DataView(out.buffer).setUint32(0, prefix, true);
  }
  return out;
}

function netmaskOf(family: AddressFamily, b: Uint8Array): Netmask {
  return family === "inet" ? { kind: "mask", mask: formatIPv4(b) } : { kind: "prefix", prefix: new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) };
}

/** Everything a service nest can hold, at wire level. Requests use the identity plus the config fields;
 *  replies (and fakes of the kernel) add stats. */
export interface ServiceAttrs {
  service: Service;
  scheduler?: string;
  persistenceEngine?: string;
  flags?: { flags: number; mask: number };
  /** Persistence timeout in seconds. With `scheduler`, NETMASK is written too (the service's, default /32 or
   *  /128): the kernel wants scheduler, flags, timeout and netmask together for a full entry. */
  timeout?: number;
  /** Only in replies (and fakes of the kernel): written as both STATS and STATS64, as the kernel does. */
  stats?: Stats;
  unknown?: RawAttr[];
}

/** Writes IPVS_CMD_ATTR_SERVICE. A key (no scheduler) carries only the identifying attributes, as
 *  ip_vs_genl_parse_service needs for GET/DEL/ZERO and for GET_DEST's dump. */
export function encodeService(e: AttrEncoder, a: ServiceAttrs): void {
  const s = a.service;
  e.nested(IPVS_CMD_ATTR.SERVICE.id, (n) => {
    n.u16(IPVS_SVC_ATTR.AF.id, afNumber(s.family));
    if (isFwmarkService(s)) {
      n.u32(IPVS_SVC_ATTR.FWMARK.id, u32In("fwmark", s.fwmark));
    } else {
      n.u16(IPVS_SVC_ATTR.PROTOCOL.id, IPPROTO[s.protocol]);
      n.bytes(IPVS_SVC_ATTR.ADDR.id, addrBytes(s.family, s.address, "service address"));
      n.be16(IPVS_SVC_ATTR.PORT.id, u32In("service port", s.port, 0xffff));
    }
    if (a.scheduler !== undefined) {
      n.string(IPVS_SVC_ATTR.SCHED_NAME.id, a.scheduler);
      if (a.persistenceEngine !== undefined) n.string(IPVS_SVC_ATTR.PE_NAME.id, a.persistenceEngine);
      const f = new Uint8Array(8);
      const d = new DataView(f.buffer);
      d.setUint32(0, (a.flags?.flags ?? 0) >>> 0, true);
      d.setUint32(4, (a.flags?.mask ?? 0xffffffff) >>> 0, true);
      n.bytes(IPVS_SVC_ATTR.FLAGS.id, f);
      n.u32(IPVS_SVC_ATTR.TIMEOUT.id, u32In("persistence timeout", a.timeout ?? 0));
      n.bytes(IPVS_SVC_ATTR.NETMASK.id, netmaskBytes(s.family, s.netmask));
    }
    if (a.stats) {
      encodeStats(n, IPVS_SVC_ATTR.STATS.id, a.stats, 32);
      encodeStats(n, IPVS_SVC_ATTR.STATS64.id, a.stats, 64);
    }
    for (const u of a.unknown ?? []) n.put(u.type, u.value);
  });
}

/** The identifying attributes of a service, in encodeService's order (AF, then FWMARK or PROTOCOL, ADDR, PORT). */
const KEY_ATTRS: readonly number[] = [IPVS_SVC_ATTR.AF.id, IPVS_SVC_ATTR.FWMARK.id, IPVS_SVC_ATTR.PROTOCOL.id, IPVS_SVC_ATTR.ADDR.id, IPVS_SVC_ATTR.PORT.id];
const KEY_FWMARK = [0, 1];
const KEY_ADDRESSED = [0, 2, 3, 4];

/**
 * The key of the service in a GET_SERVICE reply (what encodeService(e, { service }) writes, for GET_DEST's
 * dump), made by copying the identifying attributes as the kernel sent them: no address is formatted and
 * parsed again. The reply must have decoded (decodeNest) without a problem first; null if it has no service.
 * Written straight into one array of the key's size (a snapshot makes one per service before its GET_DEST
 * dumps can start).
 */
export function serviceKeyFromReply(reply: Uint8Array): Uint8Array | null {
  const c = AttrCursor.firstNest(reply, IPVS_CMD_ATTR.SERVICE.id);
  if (!c) return null;
  // where each identifying attribute's payload is in c.source, and its length; -1: not (yet) met
  const at = [-1, -1, -1, -1, -1];
  const len = [0, 0, 0, 0, 0];
  while (c.next()) {
    const k = KEY_ATTRS.indexOf(c.type);
    if (k >= 0 && at[k]! < 0) {
      at[k] = c.payloadAt;
      len[k] = c.length;
    }
  }
  if (c.problem || at[0]! < 0) return null;
  // decodeService's rule: a fwmark makes it a fwmark service, whatever else came
  const keep = at[1]! >= 0 ? KEY_FWMARK : KEY_ADDRESSED;
  let size = NLA_HDRLEN;
  for (const k of keep) if (at[k]! >= 0) size += align4(NLA_HDRLEN + len[k]!);
  if (size > 0xffff) return null;
  const out = new Uint8Array(size); // zeroed: the padding
  const src = c.source;
  let o = putAttrHeader(out, 0, size, IPVS_CMD_ATTR.SERVICE.id);
  for (const k of keep) {
    const from = at[k]!;
    if (from < 0) continue;
    const n = len[k]!;
    putAttrHeader(out, o, NLA_HDRLEN + n, KEY_ATTRS[k]!);
    for (let i = 0; i < n; i++) out[o + NLA_HDRLEN + i] = src[from + i]!;
    o += align4(NLA_HDRLEN + n);
  }
  return out;
}

/** An nlattr header (host-order nla_len, nla_type) at `at`; returns where its payload starts. */
function putAttrHeader(out: Uint8Array, at: number, nlaLen: number, type: number): number {
  const lo = HOST_LITTLE_ENDIAN ? 0 : 1;
  out[at + lo] = nlaLen & 0xff;
  out[at + 1 - lo] = nlaLen >> 8;
  out[at + 2 + lo] = type & 0xff;
  out[at + 3 - lo] = type >> 8;
  return at + NLA_HDRLEN;
}

/** The wire form of NEW_SERVICE / SET_SERVICE. The flags' mask covers only the user-settable flags, so on
 *  SET_SERVICE the kernel keeps IP_VS_SVC_F_HASHED (it prefills flags from the existing service), and on
 *  NEW_SERVICE HASHED is never sent (ip_vs_svc_hash refuses an entry already marked hashed). */
export function serviceConfigAttrs(cfg: ServiceConfig): ServiceAttrs {
  const persistent = cfg.persistent === true;
  const flags =
    (persistent ? IP_VS_SVC_F.PERSISTENT : 0) |
    (cfg.onePacket ? IP_VS_SVC_F.ONEPACKET : 0) |
    (cfg.sched1 ? IP_VS_SVC_F.SCHED1 : 0) |
    (cfg.sched2 ? IP_VS_SVC_F.SCHED2 : 0) |
    (cfg.sched3 ? IP_VS_SVC_F.SCHED3 : 0);
  return {
    service: cfg.service,
    scheduler: cfg.scheduler,
    persistenceEngine: cfg.persistenceEngine,
    flags: { flags, mask: IP_VS_SVC_F_USER_MASK },
    timeout: cfg.timeout ?? (persistent ? 300 : 0),
  };
}

/** The wire form of what the kernel reports for `s` (flags mask ~0, as ip_vs_genl_fill_service sends). */
export function serviceExtendedAttrs(s: ServiceExtended): ServiceAttrs {
  return {
    service: s.service,
    scheduler: s.scheduler,
    persistenceEngine: s.persistenceEngine,
    flags: { flags: s.flags.raw, mask: 0xffffffff },
    timeout: s.timeout,
    stats: s.stats,
    unknown: s.unknown,
  };
}

const SVC_AF = IPVS_SVC_ATTR.AF.id;
const SVC_PROTOCOL = IPVS_SVC_ATTR.PROTOCOL.id;
const SVC_ADDR = IPVS_SVC_ATTR.ADDR.id;
const SVC_PORT = IPVS_SVC_ATTR.PORT.id;
const SVC_FWMARK = IPVS_SVC_ATTR.FWMARK.id;
const SVC_SCHED_NAME = IPVS_SVC_ATTR.SCHED_NAME.id;
const SVC_PE_NAME = IPVS_SVC_ATTR.PE_NAME.id;
const SVC_FLAGS = IPVS_SVC_ATTR.FLAGS.id;
const SVC_TIMEOUT = IPVS_SVC_ATTR.TIMEOUT.id;
const SVC_NETMASK = IPVS_SVC_ATTR.NETMASK.id;
const SVC_STATS = IPVS_SVC_ATTR.STATS.id;
const SVC_STATS64 = IPVS_SVC_ATTR.STATS64.id;

/** Decodes the payload of IPVS_CMD_ATTR_SERVICE. Fixed-size payloads are length-checked and read in place
 *  (exactAt: the address and netmask are formatted from the buffer, with no view made for them). */
export function decodeService(c: AttrCursor): Decoded<ServiceExtended> {
  let af = -1;
  let protocol = -1;
  let addrAt = -1;
  let port = -1;
  let fwmark = -1;
  let netmaskAt = -1;
  let scheduler = "";
  let persistenceEngine: string | undefined;
  let flags = 0;
  let timeout = 0;
  let stats64: Stats | undefined;
  // The 32-bit nest is decoded only when the kernel sent no STATS64 (before 4.x): every kernel since sends
  // both, and the snapshot would otherwise make 10 more bigints per object for nothing.
  let stats32At = -1;
  let stats32Len = 0;
  const unknown: RawAttr[] = [];
  c.names(svcName);
  while (c.next()) {
    switch (c.type) {
      case SVC_AF: af = c.u16(); break;
      case SVC_PROTOCOL: protocol = c.u16(); break;
      case SVC_ADDR: addrAt = c.exactAt(16); break;
      case SVC_PORT: port = c.be16(); break;
      case SVC_FWMARK: fwmark = c.u32(); break;
      case SVC_SCHED_NAME: scheduler = c.string(); break;
      case SVC_PE_NAME: persistenceEngine = c.string(); break;
      // struct ip_vs_flags { u32 flags; u32 mask; }: the flags are the first u32
      case SVC_FLAGS: {
        const at = c.exactAt(8);
        if (at >= 0) flags = u32At(c.source, at);
        break;
      }
      case SVC_TIMEOUT: timeout = c.u32(); break;
      case SVC_NETMASK: netmaskAt = c.exactAt(4); break;
      case SVC_STATS: stats32At = c.payloadAt; stats32Len = c.length; break;
      case SVC_STATS64: stats64 = decodeStats(c.nested(), 64); break;
      default: unknown.push(c.raw());
    }
  }
  const stats = stats64 ?? (stats32At >= 0 ? decodeStats(c.nestedAt(stats32At, stats32Len, "IPVS_SVC_ATTR_STATS"), 32) : undefined);
  if (c.problem) return { ok: false, problem: c.problem };
  const family = af < 0 ? undefined : afName(af);
  if (!family) return missing(c, af < 0 ? "service has no IPVS_SVC_ATTR_AF" : `unknown address family ${af}`);
  const b = c.source;
  const mask: Netmask =
    netmaskAt < 0
      ? netmaskOf(family, netmaskBytes(family, undefined))
      : family === "inet"
        ? { kind: "mask", mask: formatIPv4At(b, netmaskAt) }
        : { kind: "prefix", prefix: u32At(b, netmaskAt) };
  let service: ServiceExtended["service"];
  if (fwmark >= 0) {
    service = { family, fwmark, netmask: mask };
  } else {
    const proto = protocol < 0 ? undefined : PROTOCOL_BY_NUMBER.get(protocol);
    if (!proto || addrAt < 0 || port < 0) {
      return missing(c, protocol >= 0 && !proto ? `unknown protocol ${protocol}` : "service has neither a fwmark nor protocol, address and port");
    }
    service = { family, protocol: proto, address: formatInetAddrAt(family, b, addrAt), port, netmask: mask };
  }
  const value: ServiceExtended =
    persistenceEngine === undefined
      ? { service, scheduler, flags: flagsOf(flags), timeout, stats, unknown }
      : { service, scheduler, persistenceEngine, flags: flagsOf(flags), timeout, stats, unknown };
  return { ok: true, value };
}

/** A little-endian u32 at `at` (the kernel's host order on every Linux node runs on here; see netmaskBytes). */
function u32At(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function missing<T>(c: AttrCursor, message: string): Decoded<T> {
  c.fail("malformed", message, 0);
  return { ok: false, problem: c.problem! };
}

// ---------------------------------------------------------------------------------------------------------
// Destinations

/** By wire value (small integers: arrays, not maps, for the lookups a snapshot makes per destination). */
const FWD_BY_VALUE: (ForwardMethod | undefined)[] = [];
for (const [k, v] of Object.entries(FWD_METHOD)) FWD_BY_VALUE[v] = k as ForwardMethod;
const TUN_BY_VALUE: (TunnelType | undefined)[] = [];
for (const [k, v] of Object.entries(TUNNEL_TYPE)) TUN_BY_VALUE[v] = k as TunnelType;

/** Everything a destination nest can hold, at wire level. */
export interface DestAttrs {
  address: string;
  port: number;
  /** Sent as IPVS_DEST_ATTR_ADDR_FAMILY when given. */
  family?: AddressFamily;
  /** The family used to encode the address when `family` is not given (the service's). */
  addressFamily: AddressFamily;
  forward?: ForwardMethod;
  weight?: number;
  upperThreshold?: number;
  lowerThreshold?: number;
  tunnel?: { type: TunnelType; port: number; flags: number };
  counters?: { active: number; inactive: number; persistent: number };
  stats?: Stats;
  unknown?: RawAttr[];
}

/** Writes IPVS_CMD_ATTR_DEST. Without `forward` it is a key (DEL_DEST needs only address and port). */
export function encodeDest(e: AttrEncoder, a: DestAttrs): void {
  const fam = a.family ?? a.addressFamily;
  e.nested(IPVS_CMD_ATTR.DEST.id, (n) => {
    n.bytes(IPVS_DEST_ATTR.ADDR.id, addrBytes(fam, a.address, "destination address"));
    n.be16(IPVS_DEST_ATTR.PORT.id, u32In("destination port", a.port, 0xffff));
    if (a.forward !== undefined) {
      n.u32(IPVS_DEST_ATTR.FWD_METHOD.id, FWD_METHOD[a.forward]);
      n.u32(IPVS_DEST_ATTR.WEIGHT.id, u32In("weight", a.weight ?? 1));
      if (a.tunnel) {
        n.u8(IPVS_DEST_ATTR.TUN_TYPE.id, TUNNEL_TYPE[a.tunnel.type]);
        n.be16(IPVS_DEST_ATTR.TUN_PORT.id, u32In("tunnel port", a.tunnel.port, 0xffff));
        n.u16(IPVS_DEST_ATTR.TUN_FLAGS.id, u32In("tunnel flags", a.tunnel.flags, 0xffff));
      }
      n.u32(IPVS_DEST_ATTR.U_THRESH.id, u32In("upper threshold", a.upperThreshold ?? 0));
      n.u32(IPVS_DEST_ATTR.L_THRESH.id, u32In("lower threshold", a.lowerThreshold ?? 0));
    }
    if (a.counters) {
      n.u32(IPVS_DEST_ATTR.ACTIVE_CONNS.id, a.counters.active);
      n.u32(IPVS_DEST_ATTR.INACT_CONNS.id, a.counters.inactive);
      n.u32(IPVS_DEST_ATTR.PERSIST_CONNS.id, a.counters.persistent);
    }
    if (a.family !== undefined) n.u16(IPVS_DEST_ATTR.ADDR_FAMILY.id, afNumber(a.family));
    if (a.stats) {
      encodeStats(n, IPVS_DEST_ATTR.STATS.id, a.stats, 32);
      encodeStats(n, IPVS_DEST_ATTR.STATS64.id, a.stats, 64);
    }
    for (const u of a.unknown ?? []) n.put(u.type, u.value);
  });
}

export function destConfigAttrs(d: DestinationConfig, serviceFamily: AddressFamily): DestAttrs {
  const t = d.tunnel;
  return {
    address: d.address,
    port: d.port,
    family: d.family,
    addressFamily: d.family ?? serviceFamily,
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    tunnel: t && {
      type: t.type,
      port: t.port ?? 0,
      flags: (t.csum ? IP_VS_TUNNEL_ENCAP_FLAG.CSUM : 0) | (t.remcsum ? IP_VS_TUNNEL_ENCAP_FLAG.REMCSUM : 0),
    },
  };
}

export function destinationAttrs(d: Destination): DestAttrs {
  return {
    address: d.address,
    port: d.port,
    family: d.family,
    addressFamily: d.family,
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
    tunnel: d.tunnel && { type: d.tunnel.type, port: d.tunnel.port, flags: d.tunnel.rawFlags },
    counters: { active: d.activeConns, inactive: d.inactiveConns, persistent: d.persistentConns },
    stats: d.stats,
    unknown: d.unknown,
  };
}

const DEST_ADDR = IPVS_DEST_ATTR.ADDR.id;
const DEST_PORT = IPVS_DEST_ATTR.PORT.id;
const DEST_FWD_METHOD = IPVS_DEST_ATTR.FWD_METHOD.id;
const DEST_WEIGHT = IPVS_DEST_ATTR.WEIGHT.id;
const DEST_U_THRESH = IPVS_DEST_ATTR.U_THRESH.id;
const DEST_L_THRESH = IPVS_DEST_ATTR.L_THRESH.id;
const DEST_ACTIVE_CONNS = IPVS_DEST_ATTR.ACTIVE_CONNS.id;
const DEST_INACT_CONNS = IPVS_DEST_ATTR.INACT_CONNS.id;
const DEST_PERSIST_CONNS = IPVS_DEST_ATTR.PERSIST_CONNS.id;
const DEST_STATS = IPVS_DEST_ATTR.STATS.id;
const DEST_ADDR_FAMILY = IPVS_DEST_ATTR.ADDR_FAMILY.id;
const DEST_STATS64 = IPVS_DEST_ATTR.STATS64.id;
const DEST_TUN_TYPE = IPVS_DEST_ATTR.TUN_TYPE.id;
const DEST_TUN_PORT = IPVS_DEST_ATTR.TUN_PORT.id;
const DEST_TUN_FLAGS = IPVS_DEST_ATTR.TUN_FLAGS.id;

/** Decodes the payload of IPVS_CMD_ATTR_DEST. `serviceFamily` stands in for IPVS_DEST_ATTR_ADDR_FAMILY on
 *  kernels older than 3.18, which did not send it. Like decodeService: values in locals, the address read in
 *  place, one object literal at the end. */
export function decodeDest(c: AttrCursor, serviceFamily: AddressFamily): Decoded<Destination> {
  let addrAt = -1;
  let port = -1;
  let fwd = -1;
  let af = -1;
  let tunType = -1;
  let tunPort = 0;
  let tunFlags = 0;
  let weight = 0, upperThreshold = 0, lowerThreshold = 0, activeConns = 0, inactiveConns = 0, persistentConns = 0;
  let stats64: Stats | undefined;
  // The 32-bit nest is decoded only when the kernel sent no STATS64 (before 4.x): every kernel since sends
  // both, and the snapshot would otherwise make 10 more bigints per object for nothing.
  let stats32At = -1;
  let stats32Len = 0;
  const unknown: RawAttr[] = [];
  c.names(destName);
  while (c.next()) {
    switch (c.type) {
      case DEST_ADDR: addrAt = c.exactAt(16); break;
      case DEST_PORT: port = c.be16(); break;
      case DEST_FWD_METHOD: {
        fwd = c.u32() & IP_VS_CONN_F_FWD_MASK;
        if (!c.problem && FWD_BY_VALUE[fwd] === undefined) c.fail("malformed", `unknown forwarding method ${fwd}`);
        break;
      }
      case DEST_WEIGHT: weight = c.u32(); break;
      case DEST_U_THRESH: upperThreshold = c.u32(); break;
      case DEST_L_THRESH: lowerThreshold = c.u32(); break;
      case DEST_ACTIVE_CONNS: activeConns = c.u32(); break;
      case DEST_INACT_CONNS: inactiveConns = c.u32(); break;
      case DEST_PERSIST_CONNS: persistentConns = c.u32(); break;
      case DEST_STATS: stats32At = c.payloadAt; stats32Len = c.length; break;
      case DEST_ADDR_FAMILY: af = c.u16(); break;
      case DEST_STATS64: stats64 = decodeStats(c.nested(), 64); break;
      case DEST_TUN_TYPE: {
        tunType = c.u8();
        if (!c.problem && TUN_BY_VALUE[tunType] === undefined) c.fail("malformed", `unknown tunnel type ${tunType}`);
        break;
      }
      case DEST_TUN_PORT: tunPort = c.be16(); break;
      case DEST_TUN_FLAGS: tunFlags = c.u16(); break;
      default: unknown.push(c.raw());
    }
  }
  const stats = stats64 ?? (stats32At >= 0 ? decodeStats(c.nestedAt(stats32At, stats32Len, "IPVS_DEST_ATTR_STATS"), 32) : undefined);
  if (c.problem) return { ok: false, problem: c.problem };
  const family = af < 0 ? serviceFamily : afName(af);
  if (!family) return missing(c, `unknown destination address family ${af}`);
  if (addrAt < 0 || port < 0 || fwd < 0) return missing(c, "destination lacks its address, port or forwarding method");
  const address = formatInetAddrAt(family, c.source, addrAt);
  const forward = FWD_BY_VALUE[fwd]!;
  // Whole literals, with or without the tunnel (Linux >= 5.2 always sends it): a property added afterwards
  // would cost every destination a second allocation for it and a change of shape.
  const value: Destination =
    tunType < 0
      ? { address, port, family, forward, weight, upperThreshold, lowerThreshold, activeConns, inactiveConns, persistentConns, stats, unknown }
      : {
          address, port, family, forward, weight, upperThreshold, lowerThreshold, activeConns, inactiveConns, persistentConns,
          tunnel: {
            type: TUN_BY_VALUE[tunType]!,
            port: tunPort,
            csum: (tunFlags & IP_VS_TUNNEL_ENCAP_FLAG.CSUM) !== 0,
            remcsum: (tunFlags & IP_VS_TUNNEL_ENCAP_FLAG.REMCSUM) !== 0,
            rawFlags: tunFlags,
          },
          stats,
          unknown,
        };
  return { ok: true, value };
}

// ---------------------------------------------------------------------------------------------------------
// Sync daemons, timeouts, info

const STATE_BY_VALUE = new Map<number, SyncDaemon["state"]>([[IP_VS_STATE.master, "master"], [IP_VS_STATE.backup, "backup"]]);

/** Everything a daemon nest can hold. DEL_DAEMON needs only the state. */
export interface DaemonAttrs {
  state: SyncDaemon["state"];
  mcastInterface?: string;
  syncId?: number;
  syncMaxLen?: number;
  mcastGroup?: string;
  mcastPort?: number;
  mcastTtl?: number;
  unknown?: RawAttr[];
}

export function encodeDaemon(e: AttrEncoder, a: DaemonAttrs): void {
  e.nested(IPVS_CMD_ATTR.DAEMON.id, (n) => {
    n.u32(IPVS_DAEMON_ATTR.STATE.id, IP_VS_STATE[a.state]);
    if (a.mcastInterface !== undefined) n.string(IPVS_DAEMON_ATTR.MCAST_IFN.id, a.mcastInterface);
    if (a.syncId !== undefined) n.u32(IPVS_DAEMON_ATTR.SYNC_ID.id, u32In("sync id", a.syncId));
    if (a.syncMaxLen !== undefined) n.u16(IPVS_DAEMON_ATTR.SYNC_MAXLEN.id, u32In("sync maxlen", a.syncMaxLen, 0xffff));
    if (a.mcastGroup !== undefined) {
      const v4 = parseIPv4(a.mcastGroup);
      const v6 = v4 ? undefined : parseIPv6(a.mcastGroup);
      if (v4) n.bytes(IPVS_DAEMON_ATTR.MCAST_GROUP.id, v4);
      else if (v6) n.bytes(IPVS_DAEMON_ATTR.MCAST_GROUP6.id, v6);
      else throw new EncodeError(`multicast group "${a.mcastGroup}" is not an IPv4 or IPv6 address`);
    }
    if (a.mcastPort !== undefined) n.u16(IPVS_DAEMON_ATTR.MCAST_PORT.id, u32In("multicast port", a.mcastPort, 0xffff));
    if (a.mcastTtl !== undefined) n.u8(IPVS_DAEMON_ATTR.MCAST_TTL.id, u32In("multicast TTL", a.mcastTtl, 0xff));
    for (const u of a.unknown ?? []) n.put(u.type, u.value);
  });
}

export function decodeDaemon(c: AttrCursor): Decoded<SyncDaemon> {
  let state: number | undefined;
  const v: Omit<SyncDaemon, "state"> = { mcastInterface: "", syncId: 0, unknown: [] };
  while (c.next()) {
    c.label(attrName(IPVS_DAEMON_ATTR, "IPVS_DAEMON_ATTR_", c.type));
    switch (c.type) {
      case IPVS_DAEMON_ATTR.STATE.id: state = c.u32(); break;
      case IPVS_DAEMON_ATTR.MCAST_IFN.id: v.mcastInterface = c.string(); break;
      case IPVS_DAEMON_ATTR.SYNC_ID.id: v.syncId = c.u32(); break;
      case IPVS_DAEMON_ATTR.SYNC_MAXLEN.id: v.syncMaxLen = c.u16(); break;
      case IPVS_DAEMON_ATTR.MCAST_GROUP.id: v.mcastGroup = formatIPv4(c.exact(4)); break;
      case IPVS_DAEMON_ATTR.MCAST_GROUP6.id: v.mcastGroup = formatIPv6(c.exact(16)); break;
      case IPVS_DAEMON_ATTR.MCAST_PORT.id: v.mcastPort = c.u16(); break;
      case IPVS_DAEMON_ATTR.MCAST_TTL.id: v.mcastTtl = c.u8(); break;
      default: v.unknown.push(c.raw());
    }
  }
  if (c.problem) return { ok: false, problem: c.problem };
  const s = state === undefined ? undefined : STATE_BY_VALUE.get(state);
  if (!s) return missing(c, state === undefined ? "daemon has no IPVS_DAEMON_ATTR_STATE" : `unknown daemon state ${state}`);
  return { ok: true, value: { state: s, ...v } };
}

export function encodeTimeouts(e: AttrEncoder, t: Timeouts): void {
  if (t.tcp !== undefined) e.u32(IPVS_CMD_ATTR.TIMEOUT_TCP.id, u32In("tcp timeout", t.tcp));
  if (t.tcpFin !== undefined) e.u32(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN.id, u32In("tcpfin timeout", t.tcpFin));
  if (t.udp !== undefined) e.u32(IPVS_CMD_ATTR.TIMEOUT_UDP.id, u32In("udp timeout", t.udp));
}

/** The first-level attributes of a reply: one nest of the wanted type, or the timeouts (GET_CONFIG). */
export function decodeTimeouts(c: AttrCursor): Decoded<Timeouts> {
  const t: Timeouts = {};
  while (c.next()) {
    c.label(attrName(IPVS_CMD_ATTR, "IPVS_CMD_ATTR_", c.type));
    if (c.type === IPVS_CMD_ATTR.TIMEOUT_TCP.id) t.tcp = c.u32();
    else if (c.type === IPVS_CMD_ATTR.TIMEOUT_TCP_FIN.id) t.tcpFin = c.u32();
    else if (c.type === IPVS_CMD_ATTR.TIMEOUT_UDP.id) t.udp = c.u32();
  }
  return done(c, t);
}

export function encodeInfo(e: AttrEncoder, i: IpvsInfo): void {
  e.u32(IPVS_INFO_ATTR.VERSION.id, i.versionCode).u32(IPVS_INFO_ATTR.CONN_TAB_SIZE.id, i.connTableSize);
}

export function decodeInfo(c: AttrCursor): Decoded<IpvsInfo> {
  let versionCode: number | undefined;
  let connTableSize: number | undefined;
  while (c.next()) {
    c.label(attrName(IPVS_INFO_ATTR, "IPVS_INFO_ATTR_", c.type));
    if (c.type === IPVS_INFO_ATTR.VERSION.id) versionCode = c.u32();
    else if (c.type === IPVS_INFO_ATTR.CONN_TAB_SIZE.id) connTableSize = c.u32();
  }
  if (c.problem) return { ok: false, problem: c.problem };
  if (versionCode === undefined || connTableSize === undefined) return missing(c, "GET_INFO reply lacks the version or the table size");
  const version = `${(versionCode >> 16) & 0xff}.${(versionCode >> 8) & 0xff}.${versionCode & 0xff}`;
  return { ok: true, value: { versionCode, version, connTableSize } };
}

/** Finds the one nest of `type` (IPVS_CMD_ATTR_SERVICE/DEST/DAEMON) in a reply and decodes it. */
export function decodeNest<T>(attrs: Uint8Array, type: number, decode: (c: AttrCursor) => Decoded<T>): Decoded<T> {
  return decodeNestIn(attrs, 0, attrs.length, type, decode);
}

/** decodeNest over the attribute stream in bytes[start, end), read in place (a native dump's buffer). */
export function decodeNestIn<T>(bytes: Uint8Array, start: number, end: number, type: number, decode: (c: AttrCursor) => Decoded<T>): Decoded<T> {
  // A well-formed reply (every one, from a working kernel) is decoded without a cursor for its top level.
  const nest = AttrCursor.firstNest(bytes, type, cmdAttrName, start, end);
  if (nest) return decode(nest);
  const attrs = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  const top = new AttrCursor(attrs).names(cmdAttrName);
  let result: Decoded<T> | undefined;
  while (top.next()) {
    if (top.type === type && !result) result = decode(top.nested());
  }
  if (top.problem) return { ok: false, problem: top.problem };
  return result ?? { ok: false, problem: { kind: "malformed", path: "", offset: 0, message: `reply has no ${attrName(IPVS_CMD_ATTR, "IPVS_CMD_ATTR_", type)}` } };
}
