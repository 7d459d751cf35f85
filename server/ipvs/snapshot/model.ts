// One typed snapshot of a director: what `ipvsadm -Ln --stats`, `-L --timeout` and `-L --daemon` show, read
// through the netlink client in one go. The pieces are the netlink client's own types (server/ipvs/netlink/
// types.ts): a service is a ServiceWithDestinations, counters and rates are bigint, as the kernel keeps them.
//
//   const snap = await readSnapshot(openIpvsClient());   // info, services (ipvsadm's order), timeouts, daemons
//   diffSnapshots(before, snap)                           // diff.ts: what changed, counters ignored
//   snapshotToJson(snap)                                  // json.ts: bigint as decimal strings
//   tableStateFromRules(loadIpvsadmRules(text).table)     // rules.ts: a rules file in the same vocabulary
//
// TableState is the configuration part (no info, no time): what a rules file can say and what apply writes.
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { encodeInetAddr } from "@/server/ipvs/netlink/addr";
import { compareDests, compareServices } from "@/server/ipvs/netlink/save";
import {
  isFwmarkService,
  type Destination,
  type IpvsInfo,
  type Service,
  type ServiceWithDestinations,
  type SyncDaemon,
  type Timeouts,
} from "@/server/ipvs/netlink/types";

/** Services with their real servers, the connection timeouts and the sync daemons. */
export interface TableState {
  services: ServiceWithDestinations[];
  /** A field left out means "whatever the kernel has" (a rules file without --set says nothing of it). */
  timeouts: Timeouts;
  daemons: SyncDaemon[];
}

export interface DirectorSnapshot extends TableState {
  /** When the read started, ms since the epoch. */
  takenAt: number;
  info: IpvsInfo;
}

/** Reads everything: GET_INFO, GET_CONFIG, the service dump, one destination dump per service, GET_DAEMON.
 *  Services and destinations come sorted as ipvsadm sorts them (libipvs ipvs_cmp_services / ipvs_cmp_dests). */
export async function readSnapshot(client: IpvsClient, now: () => number = Date.now): Promise<DirectorSnapshot> {
  const takenAt = now();
  const info = await client.getInfo();
  const timeouts = await client.getConfig();
  const services = sortTable(await client.snapshot());
  const daemons = await client.listDaemons();
  return { takenAt, info, services, timeouts, daemons };
}

/** The table in ipvsadm's order (a copy; destinations sorted inside each service). */
function sortTable(services: readonly ServiceWithDestinations[]): ServiceWithDestinations[] {
  return [...services].sort(compareServices).map((s) => ({ ...s, destinations: [...s.destinations].sort(compareDests) }));
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : "?");

/** A service's identity as a map key: the same for "2001:db8::1" and "2001:0db8:0:0::1". */
export function serviceKey(s: Service): string {
  if (isFwmarkService(s)) return `fwm/${s.family}/${s.fwmark}`;
  return `${s.protocol}/${s.family}/${hex(encodeInetAddr(s.family, s.address))}/${s.port}`;
}

/** A destination's identity within its service. */
export function destKey(d: Pick<Destination, "address" | "port" | "family">): string {
  return `${d.family}/${hex(encodeInetAddr(d.family, d.address))}/${d.port}`;
}
