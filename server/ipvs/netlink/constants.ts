// The IPVS generic netlink protocol as data: every command and attribute of include/uapi/linux/ip_vs.h, with
// the kernel's name beside it and the wire type the kernel uses for it (net/netfilter/ipvs/ip_vs_ctl.c: the
// nla_policy tables ip_vs_cmd_policy / ip_vs_svc_policy / ip_vs_dest_policy / ip_vs_daemon_policy, and the
// ip_vs_genl_fill_* functions for what the kernel sends back). Values checked against Linux 6.1's header.

/** ip_vs.h: #define IPVS_GENL_NAME "IPVS", IPVS_GENL_VERSION 0x1 */
export const IPVS_GENL_NAME = "IPVS";
export const IPVS_GENL_VERSION = 1;

/** How an attribute's payload is laid out on the wire.
 *  - u8/u16/u32/u64: host byte order (nla_put_u*)
 *  - be16: network byte order (nla_put_be16: ports)
 *  - addr: union nf_inet_addr, 16 bytes whatever the family (IPv4 in the first 4)
 *  - netmask: 4 bytes: an IPv4 mask in network order, or an IPv6 prefix length in host order
 *  - in_addr / in6_addr: 4 / 16 bytes, network order
 *  - flags: struct ip_vs_flags { u32 flags; u32 mask; }
 *  - string: NUL-terminated (NLA_NUL_STRING)
 *  - nested: an attribute stream */
export type WireKind = "u8" | "u16" | "u32" | "u64" | "be16" | "addr" | "netmask" | "in_addr" | "in6_addr" | "flags" | "string" | "nested" | "pad";

export interface AttrDef {
  readonly id: number;
  readonly kind: WireKind;
  /** Whether userspace sends it (`in`), the kernel reports it (`out`), or both. */
  readonly dir: "in" | "out" | "both";
}

export type AttrTable = Readonly<Record<string, AttrDef>>;

/** enum IPVS_CMD_*: generic netlink commands. `dump` = the kernel has a dumpit for it (ip_vs_genl_ops). */
export const IPVS_CMD = {
  NEW_SERVICE: { id: 1, kernel: "IPVS_CMD_NEW_SERVICE", dump: false }, // add service
  SET_SERVICE: { id: 2, kernel: "IPVS_CMD_SET_SERVICE", dump: false }, // modify service
  DEL_SERVICE: { id: 3, kernel: "IPVS_CMD_DEL_SERVICE", dump: false }, // delete service
  GET_SERVICE: { id: 4, kernel: "IPVS_CMD_GET_SERVICE", dump: true }, // get service info (doit and dumpit)
  NEW_DEST: { id: 5, kernel: "IPVS_CMD_NEW_DEST", dump: false }, // add destination
  SET_DEST: { id: 6, kernel: "IPVS_CMD_SET_DEST", dump: false }, // modify destination
  DEL_DEST: { id: 7, kernel: "IPVS_CMD_DEL_DEST", dump: false }, // delete destination
  GET_DEST: { id: 8, kernel: "IPVS_CMD_GET_DEST", dump: true }, // get destination info (dumpit only)
  NEW_DAEMON: { id: 9, kernel: "IPVS_CMD_NEW_DAEMON", dump: false }, // start sync daemon
  DEL_DAEMON: { id: 10, kernel: "IPVS_CMD_DEL_DAEMON", dump: false }, // stop sync daemon
  GET_DAEMON: { id: 11, kernel: "IPVS_CMD_GET_DAEMON", dump: true }, // get sync daemon status (dumpit only)
  SET_CONFIG: { id: 12, kernel: "IPVS_CMD_SET_CONFIG", dump: false }, // set config settings
  GET_CONFIG: { id: 13, kernel: "IPVS_CMD_GET_CONFIG", dump: false }, // get config settings
  SET_INFO: { id: 14, kernel: "IPVS_CMD_SET_INFO", dump: false }, // only used in GET_INFO reply
  GET_INFO: { id: 15, kernel: "IPVS_CMD_GET_INFO", dump: false }, // get general IPVS info
  ZERO: { id: 16, kernel: "IPVS_CMD_ZERO", dump: false }, // zero all counters and stats
  FLUSH: { id: 17, kernel: "IPVS_CMD_FLUSH", dump: false }, // flush services and dests
} as const;
export type IpvsCommand = keyof typeof IPVS_CMD;

/** enum IPVS_CMD_ATTR_*: first-level attributes of a request or reply. */
export const IPVS_CMD_ATTR = {
  SERVICE: { id: 1, kind: "nested", dir: "both" }, // IPVS_CMD_ATTR_SERVICE: nested service attribute
  DEST: { id: 2, kind: "nested", dir: "both" }, // IPVS_CMD_ATTR_DEST: nested destination attribute
  DAEMON: { id: 3, kind: "nested", dir: "both" }, // IPVS_CMD_ATTR_DAEMON: nested sync daemon attribute
  TIMEOUT_TCP: { id: 4, kind: "u32", dir: "both" }, // IPVS_CMD_ATTR_TIMEOUT_TCP: TCP connection timeout (s)
  TIMEOUT_TCP_FIN: { id: 5, kind: "u32", dir: "both" }, // IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: TCP FIN wait timeout (s)
  TIMEOUT_UDP: { id: 6, kind: "u32", dir: "both" }, // IPVS_CMD_ATTR_TIMEOUT_UDP: UDP timeout (s)
} as const satisfies AttrTable;

/** enum IPVS_SVC_ATTR_*: inside IPVS_CMD_ATTR_SERVICE. */
export const IPVS_SVC_ATTR = {
  AF: { id: 1, kind: "u16", dir: "both" }, // IPVS_SVC_ATTR_AF: address family
  PROTOCOL: { id: 2, kind: "u16", dir: "both" }, // IPVS_SVC_ATTR_PROTOCOL: virtual service protocol
  ADDR: { id: 3, kind: "addr", dir: "both" }, // IPVS_SVC_ATTR_ADDR: virtual service address
  PORT: { id: 4, kind: "be16", dir: "both" }, // IPVS_SVC_ATTR_PORT: virtual service port
  FWMARK: { id: 5, kind: "u32", dir: "both" }, // IPVS_SVC_ATTR_FWMARK: firewall mark of service
  SCHED_NAME: { id: 6, kind: "string", dir: "both" }, // IPVS_SVC_ATTR_SCHED_NAME: name of scheduler
  FLAGS: { id: 7, kind: "flags", dir: "both" }, // IPVS_SVC_ATTR_FLAGS: virtual service flags
  TIMEOUT: { id: 8, kind: "u32", dir: "both" }, // IPVS_SVC_ATTR_TIMEOUT: persistent timeout (s)
  NETMASK: { id: 9, kind: "netmask", dir: "both" }, // IPVS_SVC_ATTR_NETMASK: persistent netmask
  STATS: { id: 10, kind: "nested", dir: "out" }, // IPVS_SVC_ATTR_STATS: nested attribute for service stats
  PE_NAME: { id: 11, kind: "string", dir: "both" }, // IPVS_SVC_ATTR_PE_NAME: name of ct retriever
  STATS64: { id: 12, kind: "nested", dir: "out" }, // IPVS_SVC_ATTR_STATS64: nested attribute for service stats
} as const satisfies AttrTable;

/** enum IPVS_DEST_ATTR_*: inside IPVS_CMD_ATTR_DEST. */
export const IPVS_DEST_ATTR = {
  ADDR: { id: 1, kind: "addr", dir: "both" }, // IPVS_DEST_ATTR_ADDR: real server address
  PORT: { id: 2, kind: "be16", dir: "both" }, // IPVS_DEST_ATTR_PORT: real server port
  FWD_METHOD: { id: 3, kind: "u32", dir: "both" }, // IPVS_DEST_ATTR_FWD_METHOD: forwarding method
  WEIGHT: { id: 4, kind: "u32", dir: "both" }, // IPVS_DEST_ATTR_WEIGHT: destination weight
  U_THRESH: { id: 5, kind: "u32", dir: "both" }, // IPVS_DEST_ATTR_U_THRESH: upper threshold
  L_THRESH: { id: 6, kind: "u32", dir: "both" }, // IPVS_DEST_ATTR_L_THRESH: lower threshold
  ACTIVE_CONNS: { id: 7, kind: "u32", dir: "out" }, // IPVS_DEST_ATTR_ACTIVE_CONNS: active connections
  INACT_CONNS: { id: 8, kind: "u32", dir: "out" }, // IPVS_DEST_ATTR_INACT_CONNS: inactive connections
  PERSIST_CONNS: { id: 9, kind: "u32", dir: "out" }, // IPVS_DEST_ATTR_PERSIST_CONNS: persistent connections
  STATS: { id: 10, kind: "nested", dir: "out" }, // IPVS_DEST_ATTR_STATS: nested attribute for dest stats
  ADDR_FAMILY: { id: 11, kind: "u16", dir: "both" }, // IPVS_DEST_ATTR_ADDR_FAMILY: address family of address
  STATS64: { id: 12, kind: "nested", dir: "out" }, // IPVS_DEST_ATTR_STATS64: nested attribute for dest stats
  TUN_TYPE: { id: 13, kind: "u8", dir: "both" }, // IPVS_DEST_ATTR_TUN_TYPE: tunnel type
  TUN_PORT: { id: 14, kind: "be16", dir: "both" }, // IPVS_DEST_ATTR_TUN_PORT: tunnel port
  TUN_FLAGS: { id: 15, kind: "u16", dir: "both" }, // IPVS_DEST_ATTR_TUN_FLAGS: tunnel flags
} as const satisfies AttrTable;

/** enum IPVS_DAEMON_ATTR_*: inside IPVS_CMD_ATTR_DAEMON. */
export const IPVS_DAEMON_ATTR = {
  STATE: { id: 1, kind: "u32", dir: "both" }, // IPVS_DAEMON_ATTR_STATE: sync daemon state (master/backup)
  MCAST_IFN: { id: 2, kind: "string", dir: "both" }, // IPVS_DAEMON_ATTR_MCAST_IFN: multicast interface name
  SYNC_ID: { id: 3, kind: "u32", dir: "both" }, // IPVS_DAEMON_ATTR_SYNC_ID: SyncID we belong to
  SYNC_MAXLEN: { id: 4, kind: "u16", dir: "both" }, // IPVS_DAEMON_ATTR_SYNC_MAXLEN: UDP payload size
  MCAST_GROUP: { id: 5, kind: "in_addr", dir: "both" }, // IPVS_DAEMON_ATTR_MCAST_GROUP: IPv4 multicast address
  MCAST_GROUP6: { id: 6, kind: "in6_addr", dir: "both" }, // IPVS_DAEMON_ATTR_MCAST_GROUP6: IPv6 multicast address
  MCAST_PORT: { id: 7, kind: "u16", dir: "both" }, // IPVS_DAEMON_ATTR_MCAST_PORT: multicast port (base), host order
  MCAST_TTL: { id: 8, kind: "u8", dir: "both" }, // IPVS_DAEMON_ATTR_MCAST_TTL: multicast TTL
} as const satisfies AttrTable;

/** enum IPVS_STATS_ATTR_*: inside IPVS_{SVC,DEST}_ATTR_STATS (u32 counters, u64 bytes) and _STATS64 (all u64). */
export const IPVS_STATS_ATTR = {
  CONNS: { id: 1, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_CONNS: connections scheduled
  INPKTS: { id: 2, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_INPKTS: incoming packets
  OUTPKTS: { id: 3, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_OUTPKTS: outgoing packets
  INBYTES: { id: 4, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_INBYTES: incoming bytes
  OUTBYTES: { id: 5, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_OUTBYTES: outgoing bytes
  CPS: { id: 6, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_CPS: current connection rate
  INPPS: { id: 7, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_INPPS: current in packet rate
  OUTPPS: { id: 8, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_OUTPPS: current out packet rate
  INBPS: { id: 9, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_INBPS: current in byte rate
  OUTBPS: { id: 10, kind: "u64", dir: "out" }, // IPVS_STATS_ATTR_OUTBPS: current out byte rate
  PAD: { id: 11, kind: "pad", dir: "out" }, // IPVS_STATS_ATTR_PAD: alignment padding for the u64s
} as const satisfies AttrTable;

/** In IPVS_*_ATTR_STATS (ip_vs_genl_fill_stats) these are u32; INBYTES/OUTBYTES are u64 in both nests. */
export const STATS32_U32_IDS: ReadonlySet<number> = new Set([1, 2, 3, 6, 7, 8, 9, 10]);

/** enum IPVS_INFO_ATTR_*: first-level attributes of the GET_INFO reply (cmd IPVS_CMD_SET_INFO). */
export const IPVS_INFO_ATTR = {
  VERSION: { id: 1, kind: "u32", dir: "out" }, // IPVS_INFO_ATTR_VERSION: IPVS version number
  CONN_TAB_SIZE: { id: 2, kind: "u32", dir: "out" }, // IPVS_INFO_ATTR_CONN_TAB_SIZE: size of connection hash table
} as const satisfies AttrTable;

/** Address families (include/linux/socket.h). */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** IP protocols (include/uapi/linux/in.h). */
export const IPPROTO = { tcp: 6, udp: 17, sctp: 132 } as const;

/** IP_VS_CONN_F_* forwarding methods: IPVS_DEST_ATTR_FWD_METHOD & IP_VS_CONN_F_FWD_MASK (0x0007). */
export const IP_VS_CONN_F_FWD_MASK = 0x0007;
export const FWD_METHOD = {
  masq: 0x0000, // IP_VS_CONN_F_MASQ: masquerading/NAT (ipvsadm -m, "Masq")
  local: 0x0001, // IP_VS_CONN_F_LOCALNODE: local node ("Local"; ipvsadm picks it for a local address)
  tunnel: 0x0002, // IP_VS_CONN_F_TUNNEL: tunneling (ipvsadm -i, "Tunnel")
  route: 0x0003, // IP_VS_CONN_F_DROUTE: direct routing (ipvsadm -g, "Route")
  bypass: 0x0004, // IP_VS_CONN_F_BYPASS: cache bypass (internal; never set on a destination by ipvsadm)
} as const;
export type ForwardMethod = keyof typeof FWD_METHOD;

/** IP_VS_SVC_F_*: virtual service flags (IPVS_SVC_ATTR_FLAGS). */
export const IP_VS_SVC_F = {
  PERSISTENT: 0x0001, // IP_VS_SVC_F_PERSISTENT: persistent port
  HASHED: 0x0002, // IP_VS_SVC_F_HASHED: hashed entry (kernel-owned; never sent)
  ONEPACKET: 0x0004, // IP_VS_SVC_F_ONEPACKET: one-packet scheduling
  SCHED1: 0x0008, // IP_VS_SVC_F_SCHED1: scheduler flag 1 (sh/mh: fallback)
  SCHED2: 0x0010, // IP_VS_SVC_F_SCHED2: scheduler flag 2 (sh/mh: port)
  SCHED3: 0x0020, // IP_VS_SVC_F_SCHED3: scheduler flag 3
} as const;
/** The flags userspace may set: everything but HASHED, which the kernel sets on (un)hashing. */
export const IP_VS_SVC_F_USER_MASK = 0x0001 | 0x0004 | 0x0008 | 0x0010 | 0x0020;

/** IP_VS_STATE_*: sync daemon states (IPVS_DAEMON_ATTR_STATE). */
export const IP_VS_STATE = { none: 0x0000, master: 0x0001, backup: 0x0002 } as const;

/** enum IP_VS_CONN_F_TUNNEL_TYPE_*: IPVS_DEST_ATTR_TUN_TYPE. */
export const TUNNEL_TYPE = {
  ipip: 0, // IP_VS_CONN_F_TUNNEL_TYPE_IPIP
  gue: 1, // IP_VS_CONN_F_TUNNEL_TYPE_GUE
  gre: 2, // IP_VS_CONN_F_TUNNEL_TYPE_GRE
} as const;
export type TunnelType = keyof typeof TUNNEL_TYPE;

/** IP_VS_TUNNEL_ENCAP_FLAG_*: IPVS_DEST_ATTR_TUN_FLAGS (NOCSUM is 0). */
export const IP_VS_TUNNEL_ENCAP_FLAG = {
  NOCSUM: 0, // IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM
  CSUM: 1 << 0, // IP_VS_TUNNEL_ENCAP_FLAG_CSUM
  REMCSUM: 1 << 1, // IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM
} as const;

/** Lengths from ip_vs.h: IP_VS_SCHEDNAME_MAXLEN, IP_VS_PENAME_MAXLEN, IP_VS_IFNAME_MAXLEN (with the NUL). */
export const IP_VS_SCHEDNAME_MAXLEN = 16;
export const IP_VS_PENAME_MAXLEN = 16;
export const IP_VS_IFNAME_MAXLEN = 16;

/** Scheduler modules of mainline Linux (net/netfilter/ipvs/ip_vs_*.c), each loaded as ip_vs_NAME. "twos" is
 *  recent: Debian's 6.1 kernel lacks it and answers NEW_SERVICE with ENOENT. */
export const SCHEDULERS = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"] as const;

/** "IPVS_SVC_ATTR_AF" for (IPVS_SVC_ATTR, "IPVS_SVC_ATTR_", 1): names for problem paths and unknown attributes. */
export function attrName(table: AttrTable, prefix: string, id: number): string {
  // Decoders label every attribute they read, so this runs once per attribute of every reply: look the name
  // up in a per-table index built on first use instead of walking the table (a snapshot of 10,000 services
  // labels about 1.5 million attributes).
  let byId = attrNameIndex.get(table);
  if (!byId) {
    byId = new Map();
    attrNameIndex.set(table, byId);
  }
  let names = byId.get(prefix);
  if (!names) {
    names = [];
    for (const [key, def] of Object.entries(table)) names[def.id] ??= prefix + key;
    byId.set(prefix, names);
  }
  return names[id] ?? `${prefix}${id} (unknown)`;
}
const attrNameIndex = new WeakMap<AttrTable, Map<string, string[]>>();

/** "IPVS_CMD_GET_SERVICE" for 4. */
export function commandName(id: number): string {
  for (const c of Object.values(IPVS_CMD)) if (c.id === id) return c.kernel;
  return `IPVS command ${id}`;
}
