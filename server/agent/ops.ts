// The agent's op handlers on the real kernel: each reads or changes the kernel through server/kernel/ and
// returns the op's output type. Later ops (netlink dumps, captures, applying a plan) are added here and in
// AGENT_OPS, and the OpHandlers type makes the two lists agree.
import {
  captureStatus, diagnosticsEvidence, diagnosticsFindings, diagnosticsSite, startCapture, stopCapture,
} from "@/server/capture/live/ops";
import { IpvsError } from "@/server/ipvs/netlink/client";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { parseProcIpVsStats, type IpVsCounters } from "@/server/ipvs/proc/stats";
import { ConnQueryError, createConnTableOps } from "@/server/ipvs/conntable/ops";
import { readIpvsSnapshotData } from "@/server/ipvs/snapshot/agent";
import { openIpvsClient, openIpvsSnapshotClient } from "@/server/kernel/genl/ipvs";
import { readIpvsConnTable } from "@/server/kernel/ipvs-conn";
import { isErrnoCode, readProcFile } from "@/server/kernel/procfs";
import { createWizardOps } from "@/server/wizards/agent";
import { importRulesWith } from "@/server/ipvs/keepalived/rules-io";
import { createDrainManager, DrainError } from "@/server/ipvs/drain/drain";
import { moduleAvailability } from "@/server/kernel/modules";
import { readIpvsCountersData } from "@/server/live/counters";

import type { OpHandlers } from "./dispatcher";
import { AgentError } from "./protocol";
import type { HostInfo, IpvsMetricsData, IpvsStatus } from "./protocol";

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

/** One netlink snapshot (a socket per call: a scrape is every few seconds at most) and the /proc totals. */
async function ipvsMetrics(): Promise<IpvsMetricsData> {
  const ipvs = openIpvsClient();
  try {
    const snapshot = await ipvs.snapshot();
    let totals: IpVsCounters | null = null;
    try {
      totals = parseProcIpVsStats(await readProcFile("net/ip_vs_stats")).totals;
    } catch (error) {
      if (!isErrnoCode(error, "ENOENT")) throw error;
    }
    // Raw attributes this code has no name for stay in the agent: they are bytes, not JSON.
    const services = snapshot.map((s) => ({ ...s, unknown: [], destinations: s.destinations.map((d) => ({ ...d, unknown: [] })) }));
    return { available: true, services, totals };
  } catch (error) {
    if (error instanceof IpvsError && error.kind === "not-loaded") return { available: false, reason: IPVS_NOT_LOADED };
    throw error;
  } finally {
    ipvs.close();
  }
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

/** The connection table, read in the background by the agent (server/ipvs/conntable/). */
const connTable = createConnTableOps((signal) => readIpvsConnTable({ signal }));

const drains = createDrainManager({ open: () => openIpvsClient() });

/** A drain refused for the caller's reason (no such real server, already draining) is invalid input. */
async function drainOrInputError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw error instanceof DrainError ? new AgentError("invalid_input", error.message) : error;
  }
}

export const kernelOps: OpHandlers = {
  "ipvs.status": ipvsStatus,
  "ipvs.metrics": ipvsMetrics,
  "host.info": hostInfo,
  "ipvs.snapshot": (_input, { signal }) => readIpvsSnapshotData(openIpvsSnapshotClient, signal),
  "ipvs.counters": (input, { signal }) => readIpvsCountersData(openIpvsSnapshotClient, input.table, signal),
  "conns.status": () => connTable.status(),
  "conns.query": (input) =>
    connTable.query(input).catch((error: unknown) => {
      throw error instanceof ConnQueryError ? new AgentError("invalid_input", error.message) : error;
    }),
  "conns.refresh": () => connTable.refresh(),
  "capture.start": startCapture,
  "capture.stop": stopCapture,
  "capture.status": captureStatus,
  "diagnostics.findings": diagnosticsFindings,
  "diagnostics.evidence": diagnosticsEvidence,
  "diagnostics.site": diagnosticsSite,
  ...createWizardOps(),
  "ipvs.import": (input) => importRulesWith(openIpvsClient, moduleAvailability, input),
  "drain.start": (input) => drainOrInputError(() => drains.start(input)),
  "drain.cancel": (input) => drainOrInputError(() => drains.cancel(input.id)),
  "drain.list": async () => drains.list(),
};
