// The IPVS client over the real kernel: one NETLINK_GENERIC socket, the "IPVS" family resolved on first use.
// Everything IPVS-specific lives in server/ipvs/netlink; this file only wires it to the native transport.
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";
import { openGenlTransport } from "./linux";
import type { GenlSocketOptions } from "./transport";

export type IpvsTransportOptions = Pick<GenlSocketOptions, "timeoutMs" | "maxDumpRetries">;

export function openIpvsTransport(opts: IpvsTransportOptions = {}) {
  return openGenlTransport({ family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, ...opts });
}

/** An IpvsClient for the network namespace this process runs in. Close it when done. */
export function openIpvsClient(opts: IpvsTransportOptions = {}): IpvsClient {
  return new IpvsClient(openIpvsTransport(opts));
}
