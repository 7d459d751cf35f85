// What an LVS lab site is: the forwarding mode, the real servers and their weights, and the faults it can carry.
// Pure types, defaults and validation; lab/site/plan.ts turns a SiteSpec into shell scripts.

export type Mode = "dr" | "nat" | "tun" | "fullnat";
export const MODES: readonly Mode[] = ["dr", "nat", "tun", "fullnat"];

export interface RealServerSpec {
  /** Short name: the namespace is `${site}-${name}`, the page it serves says `${name}`. */
  name: string;
  weight: number;
  /** Port the real server listens on. DR and TUN cannot map ports, so there it must equal vipPort. */
  port?: number;
}

/** Faults that concern one real server. */
export type RsFaultKind =
  | "rs-arp"
  | "rs-gw-director"
  | "nat-gw-wrong"
  | "nat-gw-missing"
  | "tun-rp-filter"
  | "tun-no-vip";
/** Faults that concern the director (the whole site). */
export type SiteFaultKind = "fullnat-no-conntrack";
export type FaultKind = RsFaultKind | SiteFaultKind;

export type Fault = { kind: RsFaultKind; rs: string } | { kind: SiteFaultKind };

/** Which faults each mode can carry (see lab/site/README.md for what each one does). */
export const FAULTS_BY_MODE: Readonly<Record<Mode, readonly FaultKind[]>> = {
  dr: ["rs-arp", "rs-gw-director"],
  nat: ["nat-gw-wrong", "nat-gw-missing"],
  tun: ["rs-gw-director", "tun-rp-filter", "tun-no-vip"],
  fullnat: ["fullnat-no-conntrack"],
};

export const SCHEDULERS = [
  "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
] as const;
export type Scheduler = (typeof SCHEDULERS)[number];

export interface SiteSpec {
  /** Prefix of every namespace and root-namespace interface name, so several sites can coexist. */
  name: string;
  mode: Mode;
  realServers?: RealServerSpec[];
  scheduler?: Scheduler;
  protocol?: "tcp";
  vipPort?: number;
  /** Faults the site is built with; any fault valid for the mode can also be toggled later. */
  faults?: Fault[];
  /** Namespaces, links, addresses, routes and HTTP servers only: no IPVS service, no VIP anywhere, no LVS
   *  sysctls (ARP suppression, ip_forward on the director, tunl0, conntrack), no SNAT rule, and NAT real servers
   *  without a default route. What a wizard starts from. No faults. */
  bare?: boolean;
}

/** A SiteSpec with every default filled in and every rule checked. */
export interface ResolvedSpec {
  name: string;
  mode: Mode;
  realServers: Required<RealServerSpec>[];
  scheduler: Scheduler;
  protocol: "tcp";
  vipPort: number;
  faults: Fault[];
  bare: boolean;
}

export const DEFAULT_REAL_SERVERS: readonly RealServerSpec[] = [
  { name: "rs1", weight: 1 },
  { name: "rs2", weight: 2 },
];

// Root-namespace interface names are `${site}-${node}-${segment letter}` and must fit IFNAMSIZ-1 = 15:
// 6 + 1 + 6 + 1 + 1. "router" and "client" are the longest fixed node names.
const NAME_RE = /^[a-z][a-z0-9]{0,5}$/;
const RESERVED_NODE_NAMES = new Set(["client", "router", "dir", "gw"]);
/** rsN gets 192.0.2.1N / 198.51.100.1N and MAC ...:1N: at most 9 real servers. */
export const MAX_REAL_SERVERS = 9;

export class SiteSpecError extends Error {
  override name = "SiteSpecError";
}

export function faultKey(fault: Fault): string {
  return "rs" in fault ? `${fault.kind}:${fault.rs}` : fault.kind;
}

export function isRsFault(fault: Fault): fault is { kind: RsFaultKind; rs: string } {
  return "rs" in fault;
}

/** Every fault a site of this spec can toggle: each RS-level kind for each real server, plus site-level kinds. */
export function faultsFor(spec: Pick<ResolvedSpec, "mode" | "realServers">): Fault[] {
  const out: Fault[] = [];
  for (const kind of FAULTS_BY_MODE[spec.mode]) {
    if (kind === "fullnat-no-conntrack") out.push({ kind });
    else for (const rs of spec.realServers) out.push({ kind, rs: rs.name });
  }
  return out;
}

export function checkFault(spec: Pick<ResolvedSpec, "mode" | "realServers">, fault: Fault): void {
  const valid = FAULTS_BY_MODE[spec.mode];
  if (!valid.includes(fault.kind)) {
    throw new SiteSpecError(
      `fault "${fault.kind}" does not apply to mode ${spec.mode} (valid: ${valid.join(", ")})`,
    );
  }
  if (isRsFault(fault) && !spec.realServers.some((r) => r.name === fault.rs)) {
    throw new SiteSpecError(
      `fault "${fault.kind}" names real server "${fault.rs}", which the site does not have ` +
        `(${spec.realServers.map((r) => r.name).join(", ")})`,
    );
  }
}

export function resolveSpec(spec: SiteSpec): ResolvedSpec {
  if (!NAME_RE.test(spec.name)) {
    throw new SiteSpecError(`site name "${spec.name}" must match ${NAME_RE} (it prefixes interface names)`);
  }
  if (!MODES.includes(spec.mode)) throw new SiteSpecError(`unknown mode "${String(spec.mode)}"`);
  const vipPort = spec.vipPort ?? 80;
  checkPort(vipPort, "vipPort");
  const scheduler = spec.scheduler ?? "wrr";
  if (!SCHEDULERS.includes(scheduler)) throw new SiteSpecError(`unknown scheduler "${String(scheduler)}"`);
  if ((spec.protocol ?? "tcp") !== "tcp") throw new SiteSpecError(`only protocol tcp is supported`);

  const given = spec.realServers ?? DEFAULT_REAL_SERVERS;
  if (given.length < 1 || given.length > MAX_REAL_SERVERS) {
    throw new SiteSpecError(`a site has 1 to ${MAX_REAL_SERVERS} real servers, not ${given.length}`);
  }
  const seen = new Set<string>();
  const realServers = given.map((rs) => {
    if (!NAME_RE.test(rs.name) || RESERVED_NODE_NAMES.has(rs.name)) {
      throw new SiteSpecError(`real server name "${rs.name}" must match ${NAME_RE} and not be a node name`);
    }
    if (seen.has(rs.name)) throw new SiteSpecError(`real server "${rs.name}" appears twice`);
    seen.add(rs.name);
    if (!Number.isInteger(rs.weight) || rs.weight < 0 || rs.weight > 65535) {
      throw new SiteSpecError(`real server ${rs.name}: weight ${rs.weight} is not an integer in 0..65535`);
    }
    const port = rs.port ?? vipPort;
    checkPort(port, `real server ${rs.name} port`);
    if ((spec.mode === "dr" || spec.mode === "tun") && port !== vipPort) {
      throw new SiteSpecError(
        `real server ${rs.name}: mode ${spec.mode} forwards without rewriting ports, so its port must be ` +
          `${vipPort} (the VIP port), not ${port}`,
      );
    }
    return { name: rs.name, weight: rs.weight, port };
  });

  const resolved: ResolvedSpec = {
    name: spec.name, mode: spec.mode, realServers, scheduler, protocol: "tcp", vipPort, faults: [], bare: spec.bare ?? false,
  };
  if (resolved.bare && spec.faults?.length) throw new SiteSpecError("a bare site carries no faults (it has no LVS set-up to break)");
  const keys = new Set<string>();
  for (const fault of spec.faults ?? []) {
    checkFault(resolved, fault);
    const key = faultKey(fault);
    if (keys.has(key)) throw new SiteSpecError(`fault ${key} is listed twice`);
    keys.add(key);
    resolved.faults.push(fault);
  }
  return resolved;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SiteSpecError(`${what} ${port} is not a port number`);
  }
}
