// The agent's op handlers on the real kernel: each reads or changes the kernel through server/kernel/ and
// returns the op's output type. Later ops (netlink dumps, captures, applying a plan) are added here and in
// AGENT_OPS, and the OpHandlers type makes the two lists agree.
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { isErrnoCode, readProcFile } from "@/server/kernel/procfs";

import type { OpHandlers } from "./dispatcher";
import type { HostInfo, IpvsStatus } from "./protocol";

/** CAP_NET_ADMIN is bit 12 of the capability sets (include/uapi/linux/capability.h). */
const CAP_NET_ADMIN = 12n;

export const IPVS_NOT_LOADED =
  "IPVS is not loaded in this kernel: /proc/net/ip_vs does not exist (the ip_vs module is not loaded, or the " +
  "kernel was built without CONFIG_IP_VS)";

async function ipvsStatus(): Promise<IpvsStatus> {
  let text: string;
  try {
    text = await readProcFile("net/ip_vs");
  } catch (error) {
    if (isErrnoCode(error, "ENOENT")) return { available: false, reason: IPVS_NOT_LOADED };
    throw error;
  }
  return { available: true, table: parseProcIpVs(text) };
}

/** The CapEff line of /proc/self/status ("CapEff:\t000001ffffffffff"), or null when there is none. */
export function capNetAdminFromStatus(status: string): boolean | null {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  if (!m?.[1]) return null;
  return ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
}

async function hostInfo(): Promise<HostInfo> {
  const [hostname, kernelRelease, status] = await Promise.all([
    readProcFile("sys/kernel/hostname"),
    readProcFile("sys/kernel/osrelease"),
    readProcFile("self/status"),
  ]);
  return {
    hostname: hostname.trim(),
    kernelRelease: kernelRelease.trim(),
    uid: process.geteuid?.() ?? -1,
    capNetAdmin: capNetAdminFromStatus(status),
  };
}

export const kernelOps: OpHandlers = {
  "ipvs.status": ipvsStatus,
  "host.info": hostInfo,
};
