// A minimal site for filling an IPVS connection table with UDP flows, in the lab guest (shared by the benchmark
// and test/kernel/conntable.test.ts).
//
// The director is the guest's own (root) network namespace, because the connection-table reader reads the
// fixed path /proc/net/ip_vs_conn; the clients sit in a namespace of their own on a veth, with addresses
// 203.0.113.1..N (hping3 -a picks one per flood). Real servers are DR destinations in 198.51.100.0/24 behind a
// dummy device, which drops what it is given: the connection entries exist whether or not anything answers.
// The UDP timeout is an hour, so the table holds still while several readers go over it.
import { execFileSync } from "node:child_process";

export interface UdpSiteService {
  vip: string;
  port: number;
  reals: string[];
  /** Persistence timeout (-p), seconds. */
  persistent?: number;
}

export interface UdpSiteSpec {
  /** Names: `${prefix}-cli` (client namespace), `${prefix}0` (veth), `${prefix}-rs` (dummy). Short: IFNAMSIZ. */
  prefix: string;
  clients: number;
  services: UdpSiteService[];
}

export const sh = (script: string): string => execFileSync("sh", ["-ec", script], { encoding: "utf8", maxBuffer: 256 << 20 });

export const clientNamespace = (spec: UdpSiteSpec): string => `${spec.prefix}-cli`;

function downScript(spec: UdpSiteSpec): string {
  return `
    ipvsadm -C
    ip netns del ${clientNamespace(spec)} 2>/dev/null || true
    ip link del ${spec.prefix}0 2>/dev/null || true
    ip link del ${spec.prefix}-rs 2>/dev/null || true
    ${spec.services.map((s) => `ip addr del ${s.vip}/32 dev lo 2>/dev/null || true`).join("\n")}`;
}

/** Builds the site (after removing any earlier one of the same prefix) with ONE sh. */
export function buildUdpSite(spec: UdpSiteSpec): void {
  const ns = clientNamespace(spec);
  const services = spec.services
    .map((s) => {
      const key = `${s.vip}:${s.port}`;
      return [
        `ip addr add ${s.vip}/32 dev lo`,
        `ipvsadm -A -u ${key} -s rr${s.persistent ? ` -p ${s.persistent}` : ""}`,
        ...s.reals.map((r) => `ipvsadm -a -u ${key} -r ${r}:${s.port} -g`),
      ].join("\n");
    })
    .join("\n");
  sh(`
    ${downScript(spec)}
    ip netns add ${ns}
    ip link set lo up
    ip link add ${spec.prefix}0 type veth peer name eth0 netns ${ns}
    ip addr add 192.0.2.1/24 dev ${spec.prefix}0
    ip link set ${spec.prefix}0 up
    ip route add 203.0.113.0/24 via 192.0.2.2 dev ${spec.prefix}0
    ip link add ${spec.prefix}-rs type dummy
    ip link set ${spec.prefix}-rs up
    ip route add 198.51.100.0/24 dev ${spec.prefix}-rs
    ip netns exec ${ns} sh -ec '
      ip link set lo up; ip link set eth0 up; ip addr add 192.0.2.2/24 dev eth0
      for i in $(seq 1 ${spec.clients}); do ip addr add 203.0.113.$i/32 dev eth0; done
      ip route add default via 192.0.2.1'
    ipvsadm --set 0 0 3600
    ${services}
  `);
}

export function removeUdpSite(spec: UdpSiteSpec): void {
  sh(downScript(spec));
}

/** hping3's arguments for UDP packets from client address `client` (1..N) to a service: one new connection per
 *  packet, since hping3 moves its source port on by one for each (at most 65,536 per client address). */
export function udpFloodArgs(spec: UdpSiteSpec, client: number, service: UdpSiteService, extra: string[]): string[] {
  return ["netns", "exec", clientNamespace(spec), "hping3", "--udp", "-p", String(service.port), "-a", `203.0.113.${client}`, ...extra, "-q", service.vip];
}
