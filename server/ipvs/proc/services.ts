// /proc/net/ip_vs: the virtual service table, as printed by ip_vs_info_seq_show()
// (net/netfilter/ipvs/ip_vs_ctl.c). The layout, Linux 3.x through 6.x:
//
//   IP Virtual Server version 1.2.1 (size=4096)                      "%d.%d.%d (size=%d)", ip_vs_conn_tab_size
//   Prot LocalAddress:Port Scheduler Flags
//     -> RemoteAddress:Port Forward Weight ActiveConn InActConn
//   TCP  C0000264:0050 wrr                                           "%s  %08X:%04X %s %s " (the last %s: "ops " or "")
//   UDP  [2001:0db8:0000:...:0001]:0035 rr                           "%s  [%pI6]:%04X %s "  (IPv6: never prints "ops")
//   FWM  00000001 sh ops                                             "FWM  %08X %s %s"      (fwmark, sched, "ops " or "")
//   ... then either "\n" or "persistent %d %08X\n" (svc->timeout in JIFFIES, ntohl(netmask))
//     -> C000020C:0050      Route   2      0          20             "  -> %08X:%04X      %-7s %-6d %-10d %-10d\n"
//     -> [2001:...]:0050      Masq    1      0          0            "  -> [%pI6]:%04X      %-7s %-6d %-10d %-10d\n"
//
// Forward names come from ip_vs_fwd_name() (include/net/ip_vs.h): Local, Tunnel, Route, and Masq for
// everything else. Protocol names from ip_vs_proto_name() (ip_vs_core.c). What /proc does NOT print:
// scheduler flags (-b), the persistence engine (--pe), thresholds, tunnel options and the service's
// address family for fwmark services; those come from netlink (ipvsadm -Ln) or the rules.
//
// The persistence timeout is printed in jiffies, not seconds (seen in the lab: "-p 360" prints 90000 on
// Debian's kernel, CONFIG_HZ=250); /proc does not say HZ, so the caller gives it (default 250).
//
// The persistence netmask is a raw u32 the kernel keeps as the admin gave it over netlink: for IPv4 a
// network-order mask, so "FFFFFF00" is 255.255.255.0; for IPv6 a prefix length in host order, which
// ntohl() then byte-swaps on a little-endian machine (/64 prints as "40000000", /128 as "80000000").

import { formatIPv4, formatIPv6Groups, hexToIPv4, hexToPort, parseIPv6Groups } from "./addr";

export type ProcServiceProtocol = "TCP" | "UDP" | "SCTP" | "FWM";
/** ip_vs_fwd_name(): Masq (NAT), Local (the director itself), Tunnel (IPIP/GUE/GRE), Route (DR). */
export type ForwardMethod = "Masq" | "Local" | "Tunnel" | "Route";

export interface ProcRealServer {
  /** Dotted IPv4 or RFC 5952 IPv6 (no brackets). */
  address: string;
  family: 4 | 6;
  port: number;
  forward: ForwardMethod;
  weight: number;
  activeConns: number;
  inactiveConns: number;
}

export interface ProcPersistence {
  /** Seconds: the printed jiffies divided by HZ. */
  timeout: number;
  /** IPv4: dotted mask ("255.255.255.0"); IPv6: prefix length ("64"), as ipvsadm -Ln shows them. */
  netmask: string;
}

export interface ProcService {
  protocol: ProcServiceProtocol;
  /** The service's address family; for FWM (which /proc prints without one) taken from the first real
   * server, and null when there is none. */
  family: 4 | 6 | null;
  /** Dotted IPv4 or RFC 5952 IPv6; "" for fwmark services (the kernel prints no address for them). */
  address: string;
  /** 0 for fwmark services. */
  port: number;
  fwmark?: number;
  scheduler: string;
  /** The flags as ipvsadm -Ln words them: "persistent 300 mask 255.255.255.0 ops", "" when none. */
  flags: string;
  persistent?: ProcPersistence;
  /** IP_VS_SVC_F_ONEPACKET ("ops", UDP one-packet scheduling). The kernel prints it for IPv4 and fwmark
   * services only: always false for an IPv6 service, whatever its flag. */
  onePacket: boolean;
  realServers: ProcRealServer[];
}

export interface ProcIpVsTable {
  /** "1.2.1" */
  version: string;
  /** Size of the connection hash table (ip_vs_conn_tab_size), not a limit on connections. */
  connTableSize: number;
  services: ProcService[];
}

/** A line the parser cannot read; line is 1-based. */
export class ProcFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    readonly text: string,
  ) {
    super(`${file} line ${line}: ${reason}: ${JSON.stringify(text)}`);
    this.name = "ProcFormatError";
  }
}

const FILE = "/proc/net/ip_vs";
const VERSION_RE = /^IP Virtual Server version (\d+\.\d+\.\d+) \(size=(\d+)\)$/;
const FORWARDS: ReadonlySet<string> = new Set<ForwardMethod>(["Masq", "Local", "Tunnel", "Route"]);
const PROTOCOLS: ReadonlySet<string> = new Set<ProcServiceProtocol>(["TCP", "UDP", "SCTP", "FWM"]);

interface HostPort {
  address: string;
  family: 4 | 6;
  port: number;
}

/** "C0000264:0050" or "[2001:0db8:...:0001]:0050" -> address, family, port. */
function parseHostPort(token: string): HostPort | null {
  if (token.startsWith("[")) {
    const close = token.indexOf("]:");
    if (close < 0) return null;
    const groups = parseIPv6Groups(token.slice(1, close));
    const port = hexToPort(token.slice(close + 2));
    if (groups === null || port === null) return null;
    return { address: formatIPv6Groups(groups), family: 6, port };
  }
  const colon = token.indexOf(":");
  if (colon < 0) return null;
  const address = hexToIPv4(token.slice(0, colon));
  const port = hexToPort(token.slice(colon + 1));
  if (address === null || port === null) return null;
  return { address, family: 4, port };
}

/** Decodes the "%08X" of ntohl(svc->netmask) for the service's family (see the header comment). */
export function decodeProcNetmask(hex: string, family: 4 | 6): string | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
  const raw = Number.parseInt(hex, 16);
  if (family === 4) return formatIPv4(raw);
  // Undo ntohl() on the host-order prefix length: the kernel this was written for is little-endian (x86).
  const swapped = (((raw & 0xff) << 24) | ((raw & 0xff00) << 8) | ((raw >>> 8) & 0xff00) | (raw >>> 24)) >>> 0;
  return String(swapped <= 128 ? swapped : raw);
}

/** The flags in ipvsadm -Ln words (print_service_entry): " persistent T", " mask M" unless all-ones, " ops". */
function flagsText(p: ProcPersistence | undefined, onePacket: boolean, family: 4 | 6 | null): string {
  const words: string[] = [];
  if (p) {
    words.push(`persistent ${p.timeout}`);
    const full = family === 6 ? "128" : "255.255.255.255";
    if (p.netmask !== full) words.push(`mask ${p.netmask}`);
  }
  if (onePacket) words.push("ops");
  return words.join(" ");
}

interface PendingPersistence {
  timeout: number;
  netmaskHex: string;
}

export interface ProcIpVsOptions {
  /** The kernel's CONFIG_HZ, to turn the persistence timeout into seconds; Debian's amd64 kernels use 250. */
  hz?: number;
}

/** Debian's amd64 kernel (CONFIG_HZ_250). */
export const DEFAULT_HZ = 250;

/** Parses the whole text of /proc/net/ip_vs (ip_vs_info_seq_show). Throws ProcFormatError on a line it cannot read. */
export function parseProcIpVs(text: string, options: ProcIpVsOptions = {}): ProcIpVsTable {
  const hz = options.hz ?? DEFAULT_HZ;
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const first = lines[0] ?? "";
  const m = VERSION_RE.exec(first);
  if (!m) throw new ProcFormatError(FILE, 1, "expected the version line", first);
  const table: ProcIpVsTable = { version: m[1] ?? "", connTableSize: Number(m[2]), services: [] };
  const pending = new Map<ProcService, PendingPersistence>();

  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const lineNo = i + 1;
    const fail = (reason: string): never => {
      throw new ProcFormatError(FILE, lineNo, reason, line);
    };
    if (line.startsWith("Prot ") || line.startsWith("  -> RemoteAddress")) continue;
    const tokens = line.trim().split(/\s+/);
    if (line.startsWith("  -> ")) {
      const svc = table.services.at(-1) ?? fail("real server before any service");
      const [, hostPort = "", forward = "", weight = "", active = "", inactive = "", ...extra] = tokens;
      const hp = parseHostPort(hostPort) ?? fail("bad real server address");
      if (!FORWARDS.has(forward)) fail(`unknown forwarding method "${forward}"`);
      const nums = [weight, active, inactive].map((t) => (/^-?\d+$/.test(t) ? Number(t) : Number.NaN));
      if (nums.some(Number.isNaN) || extra.length > 0) fail("expected weight, ActiveConn and InActConn");
      const [w = 0, a = 0, n = 0] = nums;
      svc.realServers.push({ ...hp, forward: forward as ForwardMethod, weight: w, activeConns: a, inactiveConns: n });
      continue;
    }
    const [protocol = "", where = "", scheduler = "", ...rest] = tokens;
    if (!PROTOCOLS.has(protocol)) fail(`unknown protocol "${protocol}"`);
    if (scheduler === "") fail("missing scheduler");
    let onePacket = false;
    let persistence: PendingPersistence | undefined;
    for (let k = 0; k < rest.length; k++) {
      if (rest[k] === "ops") onePacket = true;
      else if (rest[k] === "persistent") {
        const [timeout = "", netmaskHex = ""] = rest.slice(k + 1, k + 3);
        if (!/^\d+$/.test(timeout) || !/^[0-9A-Fa-f]{8}$/.test(netmaskHex)) fail("expected persistent TIMEOUT NETMASK");
        persistence = { timeout: Number(timeout), netmaskHex };
        k += 2;
      } else fail(`unexpected "${rest[k]}" in the flags`);
    }
    let svc: ProcService;
    if (protocol === "FWM") {
      if (!/^[0-9A-Fa-f]{8}$/.test(where)) fail("bad fwmark");
      const fwmark = Number.parseInt(where, 16);
      svc = { protocol: "FWM", family: null, address: "", port: 0, fwmark, scheduler, flags: "", onePacket, realServers: [] };
    } else {
      const hp = parseHostPort(where) ?? fail("bad virtual address");
      svc = { protocol: protocol as ProcServiceProtocol, ...hp, scheduler, flags: "", onePacket, realServers: [] };
    }
    if (persistence) pending.set(svc, persistence);
    table.services.push(svc);
  }

  // Persistence and flags need the family, which fwmark services only get from their real servers.
  for (const svc of table.services) {
    if (svc.protocol === "FWM") svc.family = svc.realServers[0]?.family ?? null;
    const p = pending.get(svc);
    if (p) {
      // Checked to be 8 hex digits above, so it decodes.
      svc.persistent = {
        timeout: Math.round(p.timeout / hz),
        netmask: decodeProcNetmask(p.netmaskHex, svc.family ?? 4) ?? p.netmaskHex,
      };
    }
    svc.flags = flagsText(svc.persistent, svc.onePacket, svc.family);
  }
  return table;
}
