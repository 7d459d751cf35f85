// The IPVS client over the real kernel: one NETLINK_GENERIC socket, the "IPVS" family resolved on first use.
// Everything IPVS-specific lives in server/ipvs/netlink; this file only wires it to the native transport.
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import { openGenlTransport } from "./linux";
import { loadNativeGenl, NativeGenlTransport, openNativeOr } from "./native";
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
  /** Dumps through our native addon (native/genl, server/kernel/genl/native.ts) with this many sockets, and
   *  one socket of the `netlink` package for everything else. When the addon is not built, one line is logged
   *  and the other options above apply. */
  native?: { sockets?: number; chunk?: number };
};

/** Says once per process that the native engine is not used, and why. */
let nativeMissingLogged = false;
const logNativeMissing = (line: string) => {
  if (nativeMissingLogged) return;
  nativeMissingLogged = true;
  console.warn(`lvs-dashboard: ${line}`);
};

export function openIpvsTransport(opts: IpvsTransportOptions = {}): GenlTransport {
  const { sockets = 1, workers = 0, workerSockets = 8, native, ...socketOpts } = opts;
  const genl = { family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, ...socketOpts };
  if (native) {
    return openNativeOr(
      loadNativeGenl,
      (addon) => {
        const doit = openGenlTransport(genl);
        try {
          return new NativeGenlTransport(addon, doit, { ...genl, ...native });
        } catch (e) {
          doit.close();
          throw e;
        }
      },
      () => openIpvsTransport({ ...opts, native: undefined }),
      logNativeMissing,
    );
  }
  const members: GenlTransport[] = Array.from({ length: Math.max(sockets, workers > 0 ? 0 : 1) }, () => openGenlTransport(genl));
  for (let w = 0; w < workers; w++) members.push(new GenlWorkerTransport({ ...genl, sockets: workerSockets }));
  return members.length === 1 ? members[0]! : new GenlTransportPool(members);
}

/** An IpvsClient for the network namespace this process runs in. Close it when done. */
export function openIpvsClient(opts: IpvsTransportOptions = {}): IpvsClient {
  return new IpvsClient(openIpvsTransport(opts));
}

/** What a full-table read uses (the agent's ipvs.snapshot and ipvs.counters): the native dump engine with 4
 *  sockets; where it is not built, 16 sockets of the calling thread. A worker thread (workers: 1) was slower in
 *  the emulated lab, where two threads of a JIT cost more than they share: see bench/ipvs/RESULTS.md. */
export const SNAPSHOT_TRANSPORT: IpvsTransportOptions = { sockets: 16, native: { sockets: 4 } };

let sharedSnapshot: GenlTransport | undefined;

/**
 * An IpvsClient for reading the whole table fast, over the process's one snapshot transport: opened on first
 * use and kept (the native engine's sockets or 16 of the `netlink` package's, and a worker thread when
 * SNAPSHOT_TRANSPORT asks for one, which takes seconds to start under emulation: too long for each request). Closing
 * the client ends only this use; a transport that failed as a socket, or whose family id went stale (ENOENT), is
 * dropped and the next client opens a new one.
 */
export function openIpvsSnapshotClient(): IpvsClient {
  const shared = (sharedSnapshot ??= openIpvsTransport(SNAPSHOT_TRANSPORT));
  let closed = false;
  const check = <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      // Also a family the kernel no longer knows by the id resolved at open (ENOENT: ip_vs unloaded, or
      // reloaded under a new id): the next client resolves it again.
      const stale = e instanceof GenlError && (e.kind === "family-missing" || e.errno === 2);
      if (e instanceof GenlError && (e.kind === "socket" || e.kind === "closed" || stale) && sharedSnapshot === shared) {
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
