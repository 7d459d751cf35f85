// The real-server side of a site, in this network namespace: what the real-server agent (server/rsagent/)
// reads and changes beyond addresses (server/kernel/rtnl.ts) and sysctl writes (server/kernel/sysctl.ts):
// links up/down, the default route, the ipip module, single allow-listed sysctl reads, and the facts
// (hostname, routes, tunl0, ipip) that the diagnostics' HostFacts (server/kernel/sysctl.ts readHostFacts)
// do not carry.
//
// Like rtnl.ts this runs `ip` and `modprobe` through execFile with an argv, never a shell, each argument
// checked again here; errors keep the kernel's errno name (RtnlError.code), so "already so" (EEXIST on add,
// ESRCH/ENOENT/EADDRNOTAVAIL on delete) can be told from real failures.
import { execFile } from "node:child_process";
import { access, readFile } from "node:fs/promises";

import type { HostFacts } from "@/server/diagnostics/sysctls";
import { readRoutes, RtnlError, type RouteInfo } from "@/server/kernel/rtnl";
import { CONF_SYSCTLS, GLOBAL_SYSCTLS, IFNAME, readHostFacts, type ConfSysctl, type GlobalSysctl } from "@/server/kernel/sysctl";

const IPV4_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** Modules the real-server agent may load: ipip for TUN. Nothing else is ever asked of modprobe. */
export const RS_MODULES = ["ipip"] as const;
export type RsModule = (typeof RS_MODULES)[number];

/** iproute2 and modprobe print strerror(); the codes the real-server agent treats apart. */
const ERRNO_TEXT: [RegExp, string][] = [
  [/File exists/, "EEXIST"],
  [/Cannot assign requested address/, "EADDRNOTAVAIL"],
  [/No such file or directory|not found in directory/, "ENOENT"],
  [/No such process/, "ESRCH"],
  [/Cannot find device|No such device|does not exist/, "ENODEV"],
  [/Operation not permitted/, "EPERM"],
  [/Invalid argument/, "EINVAL"],
  [/Module \S+ is in use|Resource busy/, "EBUSY"],
];

function checkIfname(ifname: string): void {
  if (!IFNAME.test(ifname) || ifname.startsWith("-") || ifname === "." || ifname === "..") {
    throw new RtnlError("EINVAL", `not an interface name: ${JSON.stringify(ifname)}`);
  }
}

function checkIPv4(address: string): void {
  if (!IPV4_RE.test(address) || address.split(".").some((p) => Number(p) > 255)) {
    throw new RtnlError("EINVAL", `not an IPv4 address: ${JSON.stringify(address)}`);
  }
}

function run(file: "ip" | "modprobe", args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024, timeout: 20_000 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const text = (stderr || error.message).trim();
      const code = ERRNO_TEXT.find(([re]) => re.test(text))?.[1] ?? "EUNKNOWN";
      reject(new RtnlError(code, `${file} ${args.join(" ")}: ${text}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Links, default route, modules
// ---------------------------------------------------------------------------------------------------------

/** Whether the link is administratively up; RtnlError ENODEV when there is no such link. */
export async function linkIsUp(ifname: string): Promise<boolean> {
  checkIfname(ifname);
  const list = JSON.parse(await run("ip", ["-j", "link", "show", "dev", ifname])) as { flags?: string[] }[];
  return (list[0]?.flags ?? []).includes("UP");
}

export async function setLinkUp(ifname: string, up: boolean): Promise<void> {
  checkIfname(ifname);
  await run("ip", ["link", "set", "dev", ifname, up ? "up" : "down"]);
}

export interface DefaultRoute {
  gateway?: string;
  dev?: string;
}

/** The main table's IPv4 default route, or null. */
export async function readDefaultRoute(): Promise<DefaultRoute | null> {
  const r = (await readRoutes()).find((x) => x.dst === "default");
  if (!r) return null;
  return { ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) };
}

/** `ip route replace default [via GW] [dev DEV]`: sets the one default route, whatever was there. */
export async function replaceDefaultRoute(route: DefaultRoute): Promise<void> {
  const args = ["-4", "route", "replace", "default"];
  if (route.gateway !== undefined) {
    checkIPv4(route.gateway);
    args.push("via", route.gateway);
  }
  if (route.dev !== undefined) {
    checkIfname(route.dev);
    args.push("dev", route.dev);
  }
  if (args.length === 4) throw new RtnlError("EINVAL", "a default route needs a gateway or a device");
  await run("ip", args);
}

/** Deletes the IPv4 default route; RtnlError ESRCH when there is none. */
export async function deleteDefaultRoute(): Promise<void> {
  await run("ip", ["-4", "route", "del", "default"]);
}

export function isRsModule(name: string): name is RsModule {
  return (RS_MODULES as readonly string[]).includes(name);
}

/** /sys/module/<name> exists: loaded, or built in with parameters (ipip has none: built in reads as absent). */
export async function moduleLoaded(name: RsModule): Promise<boolean> {
  return access(`/sys/module/${name}`).then(
    () => true,
    () => false,
  );
}

export async function loadModule(name: RsModule): Promise<void> {
  if (!isRsModule(name)) throw new RtnlError("EINVAL", `not an allowed module: ${JSON.stringify(name)}`);
  await run("modprobe", ["--", name]);
}

export async function unloadModule(name: RsModule): Promise<void> {
  if (!isRsModule(name)) throw new RtnlError("EINVAL", `not an allowed module: ${JSON.stringify(name)}`);
  await run("modprobe", ["-r", "--", name]);
}

// ---------------------------------------------------------------------------------------------------------
// Sysctls: one allow-listed value (writes go through server/kernel/sysctl.ts writeSysctl)
// ---------------------------------------------------------------------------------------------------------

/** A sysctl the real-server agent may touch: a conf key of a scope, or a host-wide one. */
export type SysctlRef = { name: ConfSysctl; scope: string } | { name: GlobalSysctl; scope?: undefined };

/**
 * Reads a sysctl key as the wizard writes it ("net.ipv4.conf.all.arp_ignore", "net/ipv4/conf/eth0.10/rp_filter",
 * sysctl's own "net.ipv4.conf.eth0/10.rp_filter", "net.ipv4.ip_forward"). Null when it is not allow-listed.
 */
export function parseSysctlKey(key: string): SysctlRef | null {
  if (Object.hasOwn(GLOBAL_SYSCTLS, key)) return { name: key as GlobalSysctl };
  const m = /^net\.ipv4\.conf\.([^.]+)\.([a-z_]+)$/.exec(key) ?? /^net\/ipv4\/conf\/([^/]+)\/([a-z_]+)$/.exec(key);
  if (!m) return null;
  const scope = m[1]!.replaceAll("/", ".");
  const name = m[2]!;
  if (!Object.hasOwn(CONF_SYSCTLS, name) || !IFNAME.test(scope) || scope.startsWith("-") || scope === "." || scope === "..") return null;
  return { name: name as ConfSysctl, scope };
}

/** The value now, or null when the file is not there (interface gone, module not loaded). */
export async function readSysctl(ref: SysctlRef): Promise<number | null> {
  const path =
    ref.scope === undefined ? `/proc/sys/${ref.name.replaceAll(".", "/")}` : `/proc/sys/net/ipv4/conf/${ref.scope}/${ref.name}`;
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const n = Number.parseInt(text.trim(), 10);
  return Number.isFinite(n) ? n : null;
}

// ---------------------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------------------

/**
 * What a real server's kernel says, for the dashboard and its diagnostics: HostFacts (interfaces with their
 * IPv4 addresses, the allow-listed sysctls of every interface, kernel), plus hostname, the IPv4 main table,
 * the default gateway, ipip and tunl0.
 */
export interface RealServerFacts extends HostFacts {
  hostname: string;
  routes: RouteInfo[];
  /** The default route's gateway; null without one (or a device-only default route). */
  defaultGateway: string | null;
  ipipLoaded: boolean;
  /** tunl0 exists once ipip is loaded: up, and its addresses (a TUN real server holds the VIP there). */
  tunl0: { up: boolean; addresses: { address: string; prefixLen: number }[] } | null;
  takenAt: number;
}

export async function readRealServerFacts(): Promise<RealServerFacts> {
  const [hostname, routes, ipipLoaded] = await Promise.all([
    readFile("/proc/sys/kernel/hostname", "utf8").then((s) => s.trim()),
    readRoutes(),
    moduleLoaded("ipip"),
  ]);
  const host = await readHostFacts(hostname);
  const tunl0 = host.interfaces.find((i) => i.name === "tunl0");
  return {
    ...host,
    hostname,
    routes,
    defaultGateway: routes.find((r) => r.dst === "default")?.gateway ?? null,
    ipipLoaded,
    tunl0: tunl0 ? { up: tunl0.up, addresses: tunl0.addresses } : null,
    takenAt: Date.now(),
  };
}
