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
import { compareRealServerOrder, compareServiceOrder, realServerOrderKey, serviceOrderKey } from "@/server/ipvs/rules/emit";
import {
  isFwmarkService,
  type Destination,
  type IpvsInfo,
  type Service,
  type ServiceWithDestinations,
  type SyncDaemon,
  type Timeouts,
} from "@/server/ipvs/netlink/types";
import { keyFromService } from "./rules";

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

/** The table in ipvsadm's order (a copy; destinations sorted inside each service), by the comparisons of the
 *  ipvsadm-save emitter (libipvs ipvs_cmp_services / ipvs_cmp_dests), each entry's order key made once. */
export function sortTable(services: readonly ServiceWithDestinations[]): ServiceWithDestinations[] {
  const keyed = services.map((s) => ({ s, key: serviceOrderKey(keyFromService(s.service)) }));
  keyed.sort((a, b) => compareServiceOrder(a.key, b.key));
  return keyed.map(({ s: { destinations, ...service } }) => {
    const dests = destinations.map((d) => ({ d, key: realServerOrderKey({ family: d.family === "inet" ? 4 : 6, address: d.address, port: d.port }) }));
    dests.sort((a, b) => compareRealServerOrder(a.key, b.key));
    // the property first, then the spread (`{ ...s, destinations }` gives every object a V8 map of its own)
    return { destinations: dests.map(({ d }) => d), ...service };
  });
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
