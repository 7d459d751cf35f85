// The IPVS client over the real kernel: one NETLINK_GENERIC socket, the "IPVS" family resolved on first use.
// Everything IPVS-specific lives in server/ipvs/netlink; this file only wires it to the native transport.
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import { openGenlTransport } from "./linux";
import { GenlError, GenlTransportPool, type DumpJobs, type GenlSocketOptions, type GenlTransport } from "./transport";
import { GenlWorkerTransport } from "./worker";

export type IpvsTransportOptions = Pick<GenlSocketOptions, "timeoutMs" | "maxDumpRetries"> & {
  /** Netlink sockets of this thread to spread requests over (default 1). With 2, a snapshot's per-service
   *  GET_DEST dumps run two at a time: see GenlTransportPool. */
  sockets?: number;
  /** Worker threads with sockets of their own, pooled with this thread's (default 0): see worker.ts. */
  workers?: number;
  /** Sockets in each worker (default 8). */
  workerSockets?: number;
};

export function openIpvsTransport(opts: IpvsTransportOptions = {}): GenlTransport {
  const { sockets = 1, workers = 0, workerSockets = 8, ...socketOpts } = opts;
  const genl = { family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, ...socketOpts };
  const members: GenlTransport[] = Array.from({ length: Math.max(sockets, workers > 0 ? 0 : 1) }, () => openGenlTransport(genl));
  for (let w = 0; w < workers; w++) members.push(new GenlWorkerTransport({ ...genl, sockets: workerSockets }));
  return members.length === 1 ? members[0]! : new GenlTransportPool(members);
}

/** An IpvsClient for the network namespace this process runs in. Close it when done. */
export function openIpvsClient(opts: IpvsTransportOptions = {}): IpvsClient {
  return new IpvsClient(openIpvsTransport(opts));
}

/** What a full-table read uses (the agent's ipvs.snapshot): 16 sockets of the calling thread. A worker thread
 *  (workers: 1) was slower in the emulated lab, where two threads of a JIT cost more than they share: see
 *  bench/ipvs/RESULTS.md. */
export const SNAPSHOT_TRANSPORT: IpvsTransportOptions = { sockets: 16 };

let sharedSnapshot: GenlTransport | undefined;

/**
 * An IpvsClient for reading the whole table fast, over the process's one snapshot transport: opened on first
 * use and kept (16 sockets, and a worker thread when SNAPSHOT_TRANSPORT asks for one, which takes seconds to
 * start under emulation: too long for each request). Closing
 * the client ends only this use; a transport that failed as a socket (not a kernel answer) is dropped and the
 * next client opens a new one.
 */
export function openIpvsSnapshotClient(): IpvsClient {
  const shared = (sharedSnapshot ??= openIpvsTransport(SNAPSHOT_TRANSPORT));
  let closed = false;
  const check = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      if (e instanceof GenlError && (e.kind === "socket" || e.kind === "closed") && sharedSnapshot === shared) {
        sharedSnapshot = undefined;
        shared.close();
      }
      throw e;
    });
  const closedError = () => Promise.reject(new GenlError("closed", "generic netlink transport is closed"));
  const lease: GenlTransport = {
    parallelism: shared.parallelism,
    request: (cmd, attrs, flags) => (closed ? closedError() : check(shared.request(cmd, attrs, flags))),
    dumpEach: shared.dumpEach && ((jobs: DumpJobs) => (closed ? closedError() : check(shared.dumpEach!(jobs)))),
    close: () => {
      closed = true;
    },
  };
  return new IpvsClient(lease);
}
