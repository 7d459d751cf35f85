// An in-memory director behind WizardKernel, for the apply/rollback/timer unit tests: addresses, sysctls,
// nftables tables and an IPVS table that answer like the kernel does (EEXIST on a second add, ENOENT on a
// missing delete), plus a switch that makes the n-th changing call fail. The lab proves the real thing
// (test/kernel/wizard.test.ts); this pins the manager's logic.
import { IpvsError, type IpvsClient } from "@/server/ipvs/netlink/client";
import type { Destination, DestinationConfig, Service, ServiceConfig, ServiceWithDestinations } from "@/server/ipvs/netlink/types";
import type { WizardKernel } from "@/server/wizards/apply";
import type { DirectorState } from "@/server/wizards/state";

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });
const key = (s: Service) => JSON.stringify(["address" in s ? [s.protocol, s.address, s.port] : s]);

export interface FakeDirector {
  kernel: WizardKernel;
  state: DirectorState;
  /** Every changing call, in order ("add 192.0.2.100/32 eth0", "newService ...", "del ..."). */
  calls: string[];
  /** Make the n-th changing forward call (0-based) fail with this errno. */
  failAt(n: number, code?: string): void;
  /** Probes fail from now on. */
  probesFail(): void;
}

export function fakeDirector(initial: DirectorState): FakeDirector {
  const state: DirectorState = structuredClone(initial);
  const services = new Map<string, ServiceWithDestinations>();
  const calls: string[] = [];
  let forward = 0;
  let failing: { n: number; code: string } | undefined;
  let probeFails = false;
  let rr = 0;
  // Undo calls come only after the injected failure, so counting them too never moves it.
  const change = (what: string) => {
    calls.push(what);
    if (failing && forward++ === failing.n) throw errno(failing.code, `injected ${failing.code} on ${what}`);
  };
  const syncIpvs = () => {
    state.ipvs = { ...state.ipvs!, services: [...services.values()].map((s) => structuredClone({ ...s, destinations: s.destinations.map(({ stats: _s, ...d }) => d) })) };
  };

  const ipvs = {
    async getInfo() {
      return { version: "1.2.1", connTableSize: 4096 };
    },
    async getConfig() {
      return state.ipvs!.timeouts;
    },
    async listDaemons() {
      return [];
    },
    async snapshot() {
      return structuredClone([...services.values()]);
    },
    async newService(cfg: ServiceConfig) {
      change(`newService ${key(cfg.service)}`);
      if (services.has(key(cfg.service))) throw new IpvsError("exists", "File exists", "NEW_SERVICE" as never);
      services.set(key(cfg.service), {
        service: { ...cfg.service, netmask: "255.255.255.255" } as unknown as ServiceWithDestinations["service"],
        scheduler: cfg.scheduler,
        flags: { persistent: false, hashed: true, onePacket: false, sched1: false, sched2: false, sched3: false } as unknown as ServiceWithDestinations["flags"],
        timeout: 0,
        unknown: [],
        destinations: [],
      });
      syncIpvs();
    },
    async delService(s: Service) {
      change(`delService ${key(s)}`);
      if (!services.delete(key(s))) throw new IpvsError("not-found", "No such process", "DEL_SERVICE" as never);
      syncIpvs();
    },
    async newDest(s: Service, d: DestinationConfig) {
      change(`newDest ${d.address}:${d.port}`);
      const svc = services.get(key(s));
      if (!svc) throw new IpvsError("not-found", "No such process", "NEW_DEST" as never);
      if (svc.destinations.some((x) => x.address === d.address && x.port === d.port)) throw new IpvsError("exists", "File exists", "NEW_DEST" as never);
      const dest: Destination = { address: d.address, port: d.port, family: "inet", forward: d.forward, weight: d.weight, upperThreshold: 0, lowerThreshold: 0, activeConns: 0, inactiveConns: 0, persistentConns: 0, unknown: [] };
      svc.destinations.push(dest);
      syncIpvs();
    },
    async delDest(s: Service, d: { address: string; port: number }) {
      change(`delDest ${d.address}:${d.port}`);
      const svc = services.get(key(s));
      const i = svc?.destinations.findIndex((x) => x.address === d.address && x.port === d.port) ?? -1;
      if (!svc || i < 0) throw new IpvsError("not-found", "No such process", "DEL_DEST" as never);
      svc.destinations.splice(i, 1);
      syncIpvs();
    },
  } as unknown as IpvsClient;

  const kernel: WizardKernel = {
    async readState() {
      return structuredClone(state);
    },
    ipvs,
    async addAddress(ifname, address, prefixLen) {
      change(`add ${address}/${prefixLen} ${ifname}`);
      if (!state.links.some((l) => l.ifname === ifname)) throw errno("ENODEV", "Cannot find device");
      if (state.addresses.some((a) => a.address === address && a.ifname === ifname)) throw errno("EEXIST", "File exists");
      state.addresses.push({ ifname, address, prefixLen });
    },
    async delAddress(ifname, address, prefixLen) {
      change(`del ${address}/${prefixLen} ${ifname}`);
      const i = state.addresses.findIndex((a) => a.address === address && a.ifname === ifname);
      if (i < 0) throw errno("EADDRNOTAVAIL", "Cannot assign requested address");
      state.addresses.splice(i, 1);
    },
    async readSysctl(k) {
      return state.sysctls[k] ?? null;
    },
    async writeSysctl(k, v) {
      change(`sysctl ${k}=${v}`);
      state.sysctls[k] = v;
    },
    async createSnatTable(s) {
      change(`nft create ${s.table}`);
      if (state.nftTables.includes(`ip ${s.table}`)) throw errno("EEXIST", "File exists");
      state.nftTables.push(`ip ${s.table}`);
    },
    async deleteTable(_f, name) {
      change(`nft delete ${name}`);
      const i = state.nftTables.indexOf(`ip ${name}`);
      if (i < 0) throw errno("ENOENT", "No such file or directory");
      state.nftTables.splice(i, 1);
    },
    async probe(p) {
      if (probeFails) return { ok: false, error: "timeout" };
      // Round robin over the service's real servers, counted as IPVS would.
      const svc = [...services.values()].find((s) => "address" in s.service && s.service.address === p.address && s.service.port === p.port);
      const live = svc?.destinations.filter((d) => d.weight > 0) ?? [];
      if (!live.length) return { ok: false, error: "ECONNREFUSED" };
      const d = live[rr++ % live.length]!;
      d.inactiveConns++;
      return { ok: true, body: d.address };
    },
  };
  return {
    kernel,
    state,
    calls,
    failAt: (n, code = "EPERM") => {
      failing = { n, code };
      forward = 0;
    },
    probesFail: () => {
      probeFails = true;
    },
  };
}
