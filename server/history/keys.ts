// Series identity: a virtual service, or one real server of one virtual service, as stable text.
//
//   service       tcp/192.0.2.100:80      udp/[2001:db8::1]:53      fwm/42 (IPv4)   fwm6/42 (IPv6)
//   real server   tcp/192.0.2.100:80/192.0.2.11:80                  fwm/42/[2001:db8::2]:0
//
// Addresses are the text IpvsClient reports (ipvsadm -n's). A key names what an admin configured, not a
// kernel object: a real server removed and added again keeps its key, and so its history.
import { isFwmarkService, type Destination, type Service } from "@/server/ipvs/netlink/types";

const hostPort = (family: string, address: string, port: number) =>
  family === "inet6" ? `[${address}]:${port}` : `${address}:${port}`;

export function serviceKey(s: Service): string {
  if (isFwmarkService(s)) return `${s.family === "inet6" ? "fwm6" : "fwm"}/${s.fwmark}`;
  return `${s.protocol}/${hostPort(s.family, s.address, s.port)}`;
}

export function destKey(d: Pick<Destination, "family" | "address" | "port">): string {
  return hostPort(d.family, d.address, d.port);
}

export function seriesKey(service: string, dest?: string): string {
  return dest === undefined ? service : `${service}/${dest}`;
}
