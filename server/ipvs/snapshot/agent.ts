// The `ipvs.snapshot` agent op and its JSON form for the web side: the whole director in one read.
//
//   agent  ipvs.snapshot -> IpvsSnapshotData   (bigint counters; the agent wire carries them as {"$bigint":"123"})
//   tRPC   ipvs.snapshot -> IpvsSnapshotJson   (snapshotToJson: counters and rates as decimal strings)
//
// Shape (IpvsSnapshotData, available: true):
//   snapshot.takenAt      ms since the epoch, when the read started
//   snapshot.info         GET_INFO: { versionCode, version "1.2.1", connTableSize }
//   snapshot.timeouts     GET_CONFIG: { tcp?, tcpFin?, udp? } in seconds
//   snapshot.daemons      GET_DAEMON: [{ state "master"|"backup", mcastInterface, syncId, syncMaxLen?, mcastGroup?,
//                         mcastPort?, mcastTtl?, unknown: [] }]
//   snapshot.services     GET_SERVICE + one GET_DEST dump each, in ipvsadm's order: ServiceWithDestinations
//                         { service {family, protocol, address, port | fwmark, netmask}, scheduler,
//                           persistenceEngine?, flags, timeout, stats?, unknown: [],
//                           destinations: [{ address, port, family, forward, weight, upperThreshold,
//                             lowerThreshold, activeConns, inactiveConns, persistentConns, tunnel?, stats?,
//                             unknown: [] }] }
//   stats                 { conns, inPkts, outPkts, inBytes, outBytes (u64 totals), cps, inPps, outPps, inBps,
//                           outBps (the kernel's rates, per second), width: 64 (STATS64) | 32 (STATS fallback) }
// A kernel without IPVS is data, not an error: { available: false, reason }. Attributes the client has no name
// for (`unknown`) are left out (emptied): they are bytes, which the agent's JSON wire does not carry.
import { IpvsError, type IpvsClient } from "@/server/ipvs/netlink/client";

import { snapshotToJson, type SnapshotJson } from "./json";
import { readSnapshot, type DirectorSnapshot } from "./model";

export type IpvsSnapshotData = { available: true; snapshot: DirectorSnapshot } | { available: false; reason: string };

export type IpvsSnapshotJson = { available: true; snapshot: SnapshotJson } | { available: false; reason: string };

/**
 * The op's body: opens a client with `open` (the agent passes openIpvsClient with its snapshot options), reads
 * everything, closes it. `signal` (the op's deadline) closes the client early, which fails the pending read.
 */
export async function readIpvsSnapshotData(open: () => IpvsClient, signal?: AbortSignal): Promise<IpvsSnapshotData> {
  const data = await readDirector(open, signal);
  return data.available ? { available: true, snapshot: withoutUnknown(data.snapshot) } : data;
}

/** The same read as it comes (attributes without a name kept in `unknown`), for an op that copies out only what
 *  it sends (ipvs.counters), so that nothing copies 11,000 objects a tick to drop them. */
export async function readDirector(open: () => IpvsClient, signal?: AbortSignal): Promise<IpvsSnapshotData> {
  const client = open();
  const abort = () => client.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    return { available: true, snapshot: await readSnapshot(client) };
  } catch (error) {
    if (error instanceof IpvsError && error.kind === "not-loaded") return { available: false, reason: error.message };
    throw error;
  } finally {
    signal?.removeEventListener("abort", abort);
    client.close();
  }
}

function withoutUnknown(s: DirectorSnapshot): DirectorSnapshot {
  return {
    ...s,
    // properties first, then the spread: `{ ...x, unknown }` would give every object a V8 map of its own
    daemons: s.daemons.map(({ unknown: _u, ...d }) => ({ unknown: [], ...d })),
    services: s.services.map(({ unknown: _u, destinations, ...svc }) => ({
      unknown: [],
      destinations: destinations.map(({ unknown: _d, ...d }) => ({ unknown: [], ...d })),
      ...svc,
    })),
  };
}

/** What the tRPC query returns: the same, JSON-safe (bigint -> decimal string). */
export function ipvsSnapshotToJson(data: IpvsSnapshotData): IpvsSnapshotJson {
  return data.available ? { available: true, snapshot: snapshotToJson(data.snapshot) } : data;
}
