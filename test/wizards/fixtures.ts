// A bare lab director as the wizard's state reader sees it (the DR/TUN site: eth0 192.0.2.1/24 on the LAN;
// NAT/FULLNAT also eth1 198.51.100.1/24), for the planner's unit tests.
import type { WizardInputDraft } from "@/server/wizards/input";
import type { DirectorState } from "@/server/wizards/state";

export function bareDirector(opts: { inner?: boolean } = {}): DirectorState {
  return {
    ipvs: { services: [], timeouts: { tcp: 900, tcpFin: 120, udp: 300 }, daemons: [] },
    links: [{ ifname: "lo", up: true }, { ifname: "eth0", up: true }, ...(opts.inner ? [{ ifname: "eth1", up: true }] : [])],
    addresses: [
      { ifname: "lo", address: "127.0.0.1", prefixLen: 8 },
      { ifname: "eth0", address: "192.0.2.1", prefixLen: 24 },
      ...(opts.inner ? [{ ifname: "eth1", address: "198.51.100.1", prefixLen: 24 }] : []),
    ],
    routes: [{ dst: "default", gateway: "192.0.2.254", dev: "eth0" }],
    sysctls: { "net.ipv4.ip_forward": "0", "net.ipv4.vs.conntrack": "0" },
    modules: { ip_vs: "loaded", ip_vs_wrr: "loadable" },
    nftTables: [],
  };
}

export function draft(mode: "dr" | "nat" | "tun" | "fullnat", over: Partial<WizardInputDraft> = {}): WizardInputDraft {
  const natLike = mode === "nat" || mode === "fullnat";
  return {
    mode,
    vip: "192.0.2.100",
    ports: [80],
    director: { interface: "eth0", ...(natLike ? { innerInterface: "eth1" } : {}), ...(mode === "fullnat" ? { snatAddress: "198.51.100.1" } : {}) },
    realServers: [
      { address: natLike ? "198.51.100.11" : "192.0.2.11", weight: 1 },
      { address: natLike ? "198.51.100.12" : "192.0.2.12", weight: 2 },
    ],
    ...over,
  };
}
