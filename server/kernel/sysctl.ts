// The sysctls and addresses that the effective-sysctl checks (server/diagnostics/sysctls.ts) need, read from
// this process's network namespace: net.ipv4.* is per namespace, and /proc/sys/net shows the namespace of
// the process that reads it (to read another namespace, run this in it: `ip netns exec NS ...`).
//
//   const facts = await readHostFacts();                   // HostFacts: sysctls + interfaces + kernel
//   await writeSysctl("arp_ignore", "eth0", 1);            // net.ipv4.conf.eth0.arp_ignore = 1
//   await writeSysctl("net.ipv4.ip_forward", undefined, 1);
//
// Only allow-listed names are read or written, each with its range of values. No path is built from
// unchecked input: a setting is a key of the tables below, an interface name must match IFNAME (the kernel's
// own limit, IFNAMSIZ - 1 = 15 characters, no "/") and exist in /sys/class/net.
import { execFile } from "node:child_process";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { confName, type HostFacts, type InterfaceFacts } from "@/server/diagnostics/sysctls";

/** Per-interface settings (net/ipv4/conf/<scope>/<key>) and the values a write may set. */
export const CONF_SYSCTLS = {
  arp_ignore: [0, 1, 2, 3, 4, 5, 6, 7, 8],
  arp_announce: [0, 1, 2],
  rp_filter: [0, 1, 2],
  send_redirects: [0, 1],
  forwarding: [0, 1],
} as const satisfies Record<string, readonly number[]>;

/** Host-wide settings, by `sysctl` name, and the values a write may set. net.ipv4.vs.* exist once ip_vs is
 *  loaded (per namespace). */
export const GLOBAL_SYSCTLS = {
  "net.ipv4.ip_forward": [0, 1],
  "net.ipv4.vs.conntrack": [0, 1],
  "net.ipv4.vs.expire_nodest_conn": [0, 1],
  "net.ipv4.vs.conn_reuse_mode": [0, 1, 2, 3],
  "net.ipv4.vs.expire_quiescent_template": [0, 1],
} as const satisfies Record<string, readonly number[]>;

export type ConfSysctl = keyof typeof CONF_SYSCTLS;
export type GlobalSysctl = keyof typeof GLOBAL_SYSCTLS;

/** Interface names: what the kernel accepts (dev_valid_name: at most 15 bytes, no "/" nor whitespace),
 *  narrowed to the usual characters. */
export const IFNAME = /^[a-zA-Z0-9_.-]{1,15}$/;

export class SysctlError extends Error {
  override name = "SysctlError";
  constructor(
    readonly kind: "unknown-name" | "bad-interface" | "no-such-interface" | "bad-value",
    message: string,
  ) {
    super(message);
  }
}

const PROC_SYS = "/proc/sys";
const SYS_CLASS_NET = "/sys/class/net";

function isConf(name: string): name is ConfSysctl {
  return Object.hasOwn(CONF_SYSCTLS, name);
}

function isGlobal(name: string): name is GlobalSysctl {
  return Object.hasOwn(GLOBAL_SYSCTLS, name);
}

/** A valid interface name that is "all", "default", or an interface that exists now. */
async function checkScope(scope: string): Promise<string> {
  if (scope === "all" || scope === "default") return scope;
  if (!IFNAME.test(scope) || scope === "." || scope === "..") throw new SysctlError("bad-interface", `not an interface name: ${JSON.stringify(scope)}`);
  const present = await readdir(SYS_CLASS_NET);
  if (!present.includes(scope)) throw new SysctlError("no-such-interface", `no interface ${scope}`);
  return scope;
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await readFile(path, "utf8")).trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined; // not there (ip_vs or ipip not loaded, interface gone): the checks treat it as unknown
  }
}

/**
 * Every allow-listed sysctl of this namespace, by `sysctl` name: the globals, and each conf key for "all",
 * "default" and every interface. Names that cannot be read are left out.
 */
export async function readSysctls(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const ifaces = (await readdir(`${PROC_SYS}/net/ipv4/conf`)).filter((n) => IFNAME.test(n) && n !== "." && n !== "..");
  const reads: Promise<void>[] = [];
  for (const name of Object.keys(GLOBAL_SYSCTLS)) {
    reads.push(readNumber(`${PROC_SYS}/${name.replaceAll(".", "/")}`).then((v) => void (v !== undefined && (out[name] = v))));
  }
  for (const scope of ifaces) {
    for (const key of Object.keys(CONF_SYSCTLS)) {
      reads.push(readNumber(`${PROC_SYS}/net/ipv4/conf/${scope}/${key}`).then((v) => void (v !== undefined && (out[confName(scope, key)] = v))));
    }
  }
  await Promise.all(reads);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/** One entry of `ip -j addr show` (the fields read here). */
interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  link_type?: string;
  address?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Interfaces and their IPv4 addresses, from `ip -j addr show` output. PURE. */
export function parseIpAddrJson(text: string): InterfaceFacts[] {
  const list = JSON.parse(text) as IpAddrJson[];
  return list
    .filter((l) => typeof l.ifname === "string")
    .map((l) => {
      // A tunnel's "address" is its outer IPv4 (0.0.0.0 for tunl0): only Ethernet-like MACs are kept.
      const mac = l.link_type === "ether" && typeof l.address === "string" ? l.address : undefined;
      const iface: InterfaceFacts = {
        // `ip` shows a VLAN or a namespace-moved veth as "eth0@if12": the name is before the "@".
        name: l.ifname!.split("@")[0]!,
        up: (l.flags ?? []).includes("UP"),
        addresses: (l.addr_info ?? [])
          .filter((a) => a.family === "inet" && typeof a.local === "string" && typeof a.prefixlen === "number")
          .map((a) => ({ address: a.local!, prefixLen: a.prefixlen! })),
      };
      if (l.link_type !== undefined) iface.linkType = l.link_type;
      if (mac !== undefined) iface.mac = mac;
      return iface;
    });
}

/** Everything the effective-sysctl checks need about this host (this network namespace). */
export async function readHostFacts(name?: string): Promise<HostFacts> {
  const [sysctls, ip, kernel] = await Promise.all([
    readSysctls(),
    promisify(execFile)("ip", ["-j", "addr", "show"], { maxBuffer: 16 * 1024 * 1024 }),
    readFile(`${PROC_SYS}/kernel/osrelease`, "utf8"),
  ]);
  const facts: HostFacts = { kernel: kernel.trim(), sysctls, interfaces: parseIpAddrJson(ip.stdout) };
  if (name !== undefined) facts.name = name;
  return facts;
}

/**
 * Sets one allow-listed sysctl: a conf key for an interface ("all", "default" or an existing interface), or a
 * host-wide name (iface undefined). Throws SysctlError for anything not allowed, and the file system's error
 * (EACCES without CAP_NET_ADMIN in the namespace's owner, ENOENT when the module is not loaded) unchanged.
 */
export async function writeSysctl(name: ConfSysctl | GlobalSysctl, iface: string | undefined, value: number): Promise<void> {
  let path: string;
  let allowed: readonly number[];
  if (isConf(name)) {
    if (iface === undefined) throw new SysctlError("bad-interface", `${name} is per interface: name one ("all" for every one)`);
    allowed = CONF_SYSCTLS[name];
    path = `${PROC_SYS}/net/ipv4/conf/${await checkScope(iface)}/${name}`;
  } else if (isGlobal(name)) {
    if (iface !== undefined) throw new SysctlError("bad-interface", `${name} is not per interface`);
    allowed = GLOBAL_SYSCTLS[name];
    path = `${PROC_SYS}/${name.replaceAll(".", "/")}`;
  } else {
    throw new SysctlError("unknown-name", `not an allowed sysctl: ${JSON.stringify(name)}`);
  }
  if (!Number.isInteger(value) || !allowed.includes(value)) {
    throw new SysctlError("bad-value", `${name}: ${value} is not one of ${allowed.join(", ")}`);
  }
  await writeFile(path, `${value}\n`);
}
