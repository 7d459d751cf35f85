// The IPVS client over the real kernel: one NETLINK_GENERIC socket, the "IPVS" family resolved on first use.
// Everything IPVS-specific lives in server/ipvs/netlink; this file only wires it to the native transport.
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import { openGenlTransport } from "./linux";
import { GenlTransportPool, type GenlSocketOptions, type GenlTransport } from "./transport";

export type IpvsTransportOptions = Pick<GenlSocketOptions, "timeoutMs" | "maxDumpRetries"> & {
  /** Netlink sockets to spread requests over (default 1). With 2, a snapshot's per-service GET_DEST dumps run
   *  two at a time: see GenlTransportPool. */
  sockets?: number;
};

export function openIpvsTransport(opts: IpvsTransportOptions = {}): GenlTransport {
  const { sockets = 1, ...socketOpts } = opts;
  const open = () => openGenlTransport({ family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, ...socketOpts });
  if (sockets <= 1) return open();
  return new GenlTransportPool(Array.from({ length: sockets }, open));
}

/** An IpvsClient for the network namespace this process runs in. Close it when done. */
export function openIpvsClient(opts: IpvsTransportOptions = {}): IpvsClient {
  return new IpvsClient(openIpvsTransport(opts));
}
