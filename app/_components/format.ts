// Plain-text forms of IPVS values, as an operator reads them (and as ipvsadm -Ln prints addresses).
import type { RouterOutputs } from "@/app/_trpc/react";

export type IpvsStatus = RouterOutputs["ipvs"]["status"];
export type IpvsTable = Extract<IpvsStatus, { available: true }>["table"];
export type Service = IpvsTable["services"][number];
export type RealServer = Service["realServers"][number];

/** "192.0.2.100:80", "[2001:db8::1]:80". */
export function hostPort(address: string, port: number, family: 4 | 6 | null): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** "192.0.2.100:80", or "fwmark 1" for a firewall-mark service. */
export function serviceAddress(service: Service): string {
  if (service.protocol === "FWM") return `fwmark ${service.fwmark ?? 0}`;
  return hostPort(service.address, service.port, service.family);
}

/** A stable React key for a service: what ipvsadm identifies it by. */
export function serviceKey(service: Service): string {
  return `${service.protocol} ${serviceAddress(service)}`;
}

/** An address as numbers to compare: [4, octets...] or [6, eight groups...] ("::" expanded). */
function addressKey(address: string): number[] {
  if (!address.includes(":")) return [4, ...address.split(".").map(Number)];
  const [head = "", tail = ""] = address.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => Number.parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes("::") ? groups(tail) : [];
  return [6, ...h, ...new Array<number>(Math.max(8 - h.length - t.length, 0)).fill(0), ...t];
}

/** Orders addresses as numbers: IPv4 before IPv6. */
function compareAddresses(a: string, b: string): number {
  const ka = addressKey(a);
  const kb = addressKey(b);
  for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
    const d = (ka[i] ?? 0) - (kb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Services by address, port, then protocol, fwmark services last. The kernel lists them in hash-table order,
 * which is stable but means nothing to a reader.
 */
export function sortServices(services: readonly Service[]): Service[] {
  return [...services].sort(
    (a, b) =>
      Number(a.protocol === "FWM") - Number(b.protocol === "FWM") ||
      (a.fwmark ?? 0) - (b.fwmark ?? 0) ||
      compareAddresses(a.address, b.address) ||
      a.port - b.port ||
      a.protocol.localeCompare(b.protocol),
  );
}

/** Real servers by address and port (the kernel lists the newest first). */
export function sortRealServers(realServers: readonly RealServer[]): RealServer[] {
  return [...realServers].sort((a, b) => compareAddresses(a.address, b.address) || a.port - b.port);
}

/** ip_vs_fwd_name() -> the LVS mode's usual name. */
export const FORWARD_NAMES: Record<RealServer["forward"], string> = {
  Route: "Direct routing",
  Masq: "NAT",
  Tunnel: "Tunnel",
  Local: "Local",
};

/** The schedulers of mainline Linux (net/netfilter/ipvs/ip_vs_*.c). */
const SCHEDULER_NAMES: Record<string, string> = {
  rr: "round robin",
  wrr: "weighted round robin",
  lc: "least connection",
  wlc: "weighted least connection",
  lblc: "locality-based least connection",
  lblcr: "locality-based least connection with replication",
  dh: "destination hashing",
  sh: "source hashing",
  sed: "shortest expected delay",
  nq: "never queue",
  fo: "weighted failover",
  ovf: "weighted overflow",
  mh: "maglev hashing",
  twos: "weighted random twos choice",
};

export function schedulerName(scheduler: string): string | null {
  return SCHEDULER_NAMES[scheduler] ?? null;
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
