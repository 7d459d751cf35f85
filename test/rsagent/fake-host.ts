// An in-memory real server for the transaction logic: addresses, links, sysctls, modules, default route, with
// the kernel's answers (EEXIST on a second add, EADDRNOTAVAIL on deleting a missing address, ENODEV for a
// missing link, ENOENT for a sysctl of a missing interface). It is the journal's test double only; the real
// kernel is exercised in test/kernel/rsagent.test.ts.
import type { RsKernel } from "@/server/rsagent/journal";
import { parseSysctlKey, type DefaultRoute, type SysctlRef } from "@/server/kernel/rsnet";

export class ErrnoError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface HostState {
  links: Record<string, { up: boolean; addresses: string[] }>;
  sysctls: Record<string, number>;
  modules: string[];
  defaultRoute: DefaultRoute | null;
}

const refKey = (ref: SysctlRef) => (ref.scope === undefined ? ref.name : `${ref.scope}.${ref.name}`);

export function drRealServer(): HostState {
  const conf = (scope: string) => ({ [`${scope}.arp_ignore`]: 0, [`${scope}.arp_announce`]: 0, [`${scope}.rp_filter`]: 2 });
  return {
    links: { lo: { up: true, addresses: ["127.0.0.1/8"] }, eth0: { up: true, addresses: ["192.0.2.11/24"] } },
    sysctls: { ...conf("all"), ...conf("default"), ...conf("lo"), ...conf("eth0"), "net.ipv4.ip_forward": 0 },
    modules: [],
    defaultRoute: { gateway: "192.0.2.254", dev: "eth0" },
  };
}

export class FakeHost implements RsKernel {
  calls: string[] = [];
  /** Makes the named operation fail once with this errno ("addAddress" -> "EPERM"). */
  failures = new Map<string, string>();

  constructor(public state: HostState) {}

  snapshot(): HostState {
    return structuredClone(this.state);
  }

  private enter(op: string, detail: string): void {
    this.calls.push(`${op} ${detail}`);
    const fail = this.failures.get(op);
    if (fail) {
      this.failures.delete(op);
      throw new ErrnoError(fail, `${op} ${detail}: ${fail}`);
    }
  }

  private link(ifname: string) {
    const l = this.state.links[ifname];
    if (!l) throw new ErrnoError("ENODEV", `Cannot find device "${ifname}"`);
    return l;
  }

  parseSysctlKey = parseSysctlKey;

  async readSysctl(ref: SysctlRef) {
    return this.state.sysctls[refKey(ref)] ?? null;
  }
  async writeSysctl(ref: SysctlRef, value: number) {
    this.enter("writeSysctl", `${refKey(ref)}=${value}`);
    if (!(refKey(ref) in this.state.sysctls)) throw new ErrnoError("ENOENT", `no sysctl ${refKey(ref)}`);
    this.state.sysctls[refKey(ref)] = value;
  }
  async addAddress(ifname: string, address: string, prefixLen: number) {
    this.enter("addAddress", `${address}/${prefixLen} ${ifname}`);
    const l = this.link(ifname);
    if (l.addresses.includes(`${address}/${prefixLen}`)) throw new ErrnoError("EEXIST", "RTNETLINK answers: File exists");
    l.addresses.push(`${address}/${prefixLen}`);
  }
  async delAddress(ifname: string, address: string, prefixLen: number) {
    this.enter("delAddress", `${address}/${prefixLen} ${ifname}`);
    const l = this.link(ifname);
    const i = l.addresses.indexOf(`${address}/${prefixLen}`);
    if (i < 0) throw new ErrnoError("EADDRNOTAVAIL", "Cannot assign requested address");
    l.addresses.splice(i, 1);
  }
  async linkIsUp(ifname: string) {
    return this.link(ifname).up;
  }
  async setLinkUp(ifname: string, up: boolean) {
    this.enter("setLinkUp", `${ifname} ${up}`);
    this.link(ifname).up = up;
  }
  async moduleLoaded(name: string) {
    return this.state.modules.includes(name);
  }
  async loadModule(name: string) {
    this.enter("loadModule", name);
    this.state.modules.push(name);
    if (name === "ipip") this.state.links.tunl0 = { up: false, addresses: [] };
  }
  async unloadModule(name: string) {
    this.enter("unloadModule", name);
    this.state.modules = this.state.modules.filter((m) => m !== name);
    if (name === "ipip") delete this.state.links.tunl0;
  }
  async readDefaultRoute() {
    return this.state.defaultRoute ? { ...this.state.defaultRoute } : null;
  }
  async replaceDefaultRoute(route: DefaultRoute) {
    this.enter("replaceDefaultRoute", JSON.stringify(route));
    this.state.defaultRoute = { ...route };
  }
  async deleteDefaultRoute() {
    this.enter("deleteDefaultRoute", "");
    if (!this.state.defaultRoute) throw new ErrnoError("ESRCH", "No such process");
    this.state.defaultRoute = null;
  }
  async hostname() {
    return "rs1";
  }
}
