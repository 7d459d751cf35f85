// Preflight: what stands in the way of a wizard's input on this director, before anything changes. PURE: a
// function of the input and the director's state (state.ts). An "error" blocks the apply; a "warning" is
// something the plan will change or the admin should know; "info" states what the real servers must do
// (their scripts do it; the traffic probe after the apply proves it).
import { serviceKey } from "@/server/ipvs/snapshot/model";
import { serviceFromKey } from "@/server/ipvs/snapshot/rules";

import type { WizardInput } from "./input";
import { directorSysctls, fullnatTable, ipvsIssues, wizardRuleTable } from "./plan";
import { addressesOn, connectedAddress, type DirectorState } from "./state";

export type Severity = "error" | "warning" | "info";

export interface PreflightProblem {
  severity: Severity;
  /** Input field the problem is about ("realServers.1.address"), when there is one. */
  field?: string;
  message: string;
}

export function preflight(input: WizardInput, state: DirectorState): PreflightProblem[] {
  const out: PreflightProblem[] = [];
  const error = (message: string, field?: string) => out.push({ severity: "error", message, ...(field ? { field } : {}) });
  const warning = (message: string, field?: string) => out.push({ severity: "warning", message, ...(field ? { field } : {}) });
  const info = (message: string) => out.push({ severity: "info", message });
  const natLike = input.mode === "nat" || input.mode === "fullnat";

  // Kernel: IPVS, the scheduler's module, nftables NAT for FULLNAT.
  if (!state.ipvs) error(`IPVS is not usable on this director: ${state.ipvsReason ?? "the ip_vs module is not loaded"}`);
  for (const [module, availability] of Object.entries(state.modules)) {
    if (availability !== "missing") continue;
    const field = module === `ip_vs_${input.scheduler}` ? "scheduler" : undefined;
    error(`this kernel has no module ${module} (not loaded, not built in, not in /lib/modules)`, field);
  }
  for (const m of ipvsIssues(input)) error(m);

  // Interfaces.
  const link = (ifname: string, field: string) => {
    const l = state.links.find((x) => x.ifname === ifname);
    if (!l) error(`the director has no interface "${ifname}" (it has: ${state.links.map((x) => x.ifname).join(", ")})`, field);
    else if (!l.up) warning(`interface ${ifname} is down`, field);
    return l;
  };
  link(input.director.interface, "director.interface");
  if (input.director.innerInterface) link(input.director.innerInterface, "director.innerInterface");

  // The VIP: free for this service, not somebody's real address.
  const vipOn = state.addresses.filter((a) => a.address === input.vip);
  for (const a of vipOn) {
    if (a.prefixLen < 32 && !natLike) error(`${input.vip} is the director's own address on ${a.ifname} (/${a.prefixLen}): a ${input.mode.toUpperCase()} VIP must be an extra address`, "vip");
    else if (a.ifname !== input.director.interface) warning(`${input.vip} is already on ${a.ifname}, not on ${input.director.interface}: kept there`, "vip");
    else info(`${input.vip} is already on ${a.ifname}: kept as it is`);
  }
  const wanted = new Set(wizardRuleTable(input).services.map((s) => serviceKey(serviceFromKey(s.key))));
  input.ports.forEach((p, i) => {
    const svc = state.ipvs?.services.find((s) => wanted.has(serviceKey(s.service)) && "port" in s.service && s.service.port === p);
    if (svc) error(`IPVS already has ${input.protocol.toUpperCase()} ${input.vip}:${p} (${svc.destinations.length} real servers): change it on its service page, not with a wizard`, `ports.${i}`);
  });
  const otherPorts = state.ipvs?.services.filter((s) => "address" in s.service && s.service.address === input.vip && !wanted.has(serviceKey(s.service))) ?? [];
  if (otherPorts.length) info(`the VIP already serves ${otherPorts.length} other service(s): this adds to them`);

  // Real servers: reachable the way the mode needs.
  const dirAddrs = new Set(state.addresses.map((a) => a.address));
  input.realServers.forEach((rs, i) => {
    const field = `realServers.${i}.address`;
    if (dirAddrs.has(rs.address)) {
      error(`${rs.address} is an address of this director`, field);
      return;
    }
    if (input.mode === "dr") {
      if (!connectedAddress(state, input.director.interface, rs.address)) {
        const nets = addressesOn(state, input.director.interface).filter((a) => a.prefixLen < 32).map((a) => `${a.address}/${a.prefixLen}`);
        error(`DR needs one L2 segment: ${rs.address} is not on ${input.director.interface}'s network${nets.length ? ` (${nets.join(", ")})` : " (it has no address)"}`, field);
      }
    } else if (natLike && input.director.innerInterface) {
      if (!connectedAddress(state, input.director.innerInterface, rs.address)) {
        error(`${input.mode.toUpperCase()} needs the real servers on the director's inner network: ${rs.address} is not on ${input.director.innerInterface}'s`, field);
      }
    } else if (input.mode === "tun") {
      const routed = state.addresses.some((a) => a.prefixLen < 32 && connectedAddress(state, a.ifname, rs.address)) || state.routes.some((r) => r.dst === "default");
      if (!routed) error(`the director has no route to ${rs.address}`, field);
    }
  });
  if (input.mode === "fullnat" && input.director.snatAddress && input.director.innerInterface) {
    const own = state.addresses.some((a) => a.address === input.director.snatAddress && a.ifname === input.director.innerInterface);
    if (!own) error(`${input.director.snatAddress} is not an address of ${input.director.innerInterface}: FULLNAT source-NATs to a local inner address`, "director.snatAddress");
    if (state.nftTables.includes(`ip ${fullnatTable(input.vip)}`)) error(`nftables already has table ip ${fullnatTable(input.vip)}: remove it first`);
  }

  // Sysctls the plan changes.
  for (const [key, value] of Object.entries(directorSysctls(input.mode))) {
    const now = state.sysctls[key];
    if (now === null || now === undefined) error(`${key} does not exist on this director`);
    else if (now !== value) warning(`${key} is ${now}: the plan sets it to ${value}${key === "net.ipv4.ip_forward" ? " (NAT routes the replies back through the director)" : " (without it the SNAT rule never matches IPVS traffic)"}`);
  }

  // Verification.
  const weighted = input.realServers.filter((r) => r.weight > 0).length;
  if (input.protocol === "udp") warning("UDP services are verified by reading the state back only: the traffic probe is HTTP");
  else if (input.verify.probes < weighted) warning(`${input.verify.probes} probes cannot reach all ${weighted} real servers with a weight: the verification will fail`, "verify.probes");
  if (weighted === 0) warning("every real server has weight 0: the service will accept no connection");

  // What the real servers need (their scripts do it).
  if (input.mode === "dr") info("each real server must hold the VIP on lo and not answer ARP for it (arp_ignore=1, arp_announce=2): run its script before applying");
  if (input.mode === "tun") info("each real server needs the ipip module, tunl0 up with the VIP and rp_filter=0: run its script before applying");
  if (input.mode === "nat") info("each real server's default gateway must be the director's inner address (DIP): run its script before applying");
  if (input.mode === "fullnat") info("real servers will see the director's inner address as the client, not the client's own address");
  return out;
}

export const hasErrors = (problems: readonly PreflightProblem[]) => problems.some((p) => p.severity === "error");
