// Addresses, links and routes of this network namespace, for the wizards' apply: read with `ip -j`, changed
// with `ip address add|del`, always through execFile with an argv (never a shell).
//
// Why `ip` and not rtnetlink through the `netlink` package (createRtNetlink): server/kernel/genl/linux.ts is
// the one file that imports `netlink`, and a second native socket user would need its own length-checked
// decoders of IFA_/RTA_ attributes, tested against recorded replies; `ip -j` is the oracle the lab compares
// with anyway, and the wizard changes one or two addresses per apply. Errors keep the kernel's errno name
// (from iproute2's "RTNETLINK answers: File exists"), so EEXIST on add and EADDRNOTAVAIL/ENOENT on delete can
// be told apart from real failures, as keepalived does.
import { execFile } from "node:child_process";

import { parseIpAddrJson } from "@/server/kernel/sysctl";

/** Every argument must look like a value or a keyword: no spaces, quotes, or shell characters. */
const ARG_RE = /^[A-Za-z0-9_.:/-]{1,64}$/;
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const CIDR_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\/\d{1,2}$/;

/** iproute2 prints strerror(), or the kernel's extended ack message when there is one ("Error: ipv4: Address
 *  already assigned." for EEXIST, "Error: ipv4: Address not found." for EADDRNOTAVAIL, iproute2 6.1). */
const ERRNO_TEXT: [RegExp, string][] = [
  [/File exists|Address already assigned/, "EEXIST"],
  [/Cannot assign requested address|Address not found/, "EADDRNOTAVAIL"],
  [/No such file or directory/, "ENOENT"],
  [/No such process/, "ESRCH"],
  [/Cannot find device|No such device/, "ENODEV"],
  [/Operation not permitted/, "EPERM"],
  [/Invalid argument/, "EINVAL"],
];

export class RtnlError extends Error {
  override name = "RtnlError";
  constructor(
    /** errno name ("EEXIST"), or "EUNKNOWN" when iproute2 said something else. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function ip(args: readonly string[]): Promise<string> {
  for (const a of args) if (!ARG_RE.test(a)) return Promise.reject(new RtnlError("EINVAL", `refused argument for ip: ${JSON.stringify(a)}`));
  return new Promise((resolve, reject) => {
    execFile("ip", args, { maxBuffer: 16 * 1024 * 1024, timeout: 20_000 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const text = (stderr || error.message).trim();
      const code = ERRNO_TEXT.find(([re]) => re.test(text))?.[1] ?? "EUNKNOWN";
      reject(new RtnlError(code, `ip ${args.join(" ")}: ${text}`));
    });
  });
}

export interface LinkInfo {
  ifname: string;
  up: boolean;
}
export interface AddressInfo {
  ifname: string;
  address: string;
  prefixLen: number;
}
export interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** Links and their IPv4 addresses. */
export async function readLinksAndAddresses(): Promise<{ links: LinkInfo[]; addresses: AddressInfo[] }> {
  const facts = parseIpAddrJson(await ip(["-j", "address", "show"]));
  return {
    links: facts.map((f) => ({ ifname: f.name, up: f.up })),
    addresses: facts.flatMap((f) => f.addresses.map((a) => ({ ifname: f.name, address: a.address, prefixLen: a.prefixLen }))),
  };
}

/** The IPv4 main table. */
export async function readRoutes(): Promise<RouteInfo[]> {
  const list = JSON.parse(await ip(["-j", "-4", "route", "show", "table", "main"])) as { dst?: string; gateway?: string; dev?: string }[];
  return list.map((r) => ({ dst: r.dst ?? "default", ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) }));
}

function addressArgs(ifname: string, address: string, prefixLen: number): string[] {
  const cidr = `${address}/${prefixLen}`;
  if (!IFNAME_RE.test(ifname)) throw new RtnlError("EINVAL", `not an interface name: ${JSON.stringify(ifname)}`);
  if (!CIDR_RE.test(cidr)) throw new RtnlError("EINVAL", `not an IPv4 prefix: ${JSON.stringify(cidr)}`);
  return [cidr, "dev", ifname];
}

export async function addAddress(ifname: string, address: string, prefixLen: number): Promise<void> {
  await ip(["address", "add", ...addressArgs(ifname, address, prefixLen)]);
}

export async function delAddress(ifname: string, address: string, prefixLen: number): Promise<void> {
  await ip(["address", "del", ...addressArgs(ifname, address, prefixLen)]);
}
