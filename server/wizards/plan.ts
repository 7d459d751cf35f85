// The plan: what the wizard will change, as an ordered list of typed steps for the director and a script per
// real server. PURE: a function of the input and the director's state (state.ts).
//
// Director, in this order (undo runs backwards):
//   1. sysctls          NAT/FULLNAT: net.ipv4.ip_forward=1; FULLNAT: net.ipv4.vs.conntrack=1
//   2. the VIP          /32 on the director's interface, unless it is there already
//   3. nftables         FULLNAT only: table ip lvsdash_fullnat_<vip>, SNAT to the inner address
//   4. IPVS             the service per port and its real servers, as server/ipvs/apply plans them
//                       (planApply with keepUnlisted: nothing else in the table is touched)
// Real servers (a script the administrator runs on each, until a real-server agent exists):
//   DR       VIP/32 on lo, arp_ignore=1 / arp_announce=2 on all and the interface (first, so the VIP is never
//            announced)
//   TUN      ipip loaded, tunl0 up with VIP/32, rp_filter=0 on all and tunl0, ARP suppression as DR
//   NAT      default route via the director's inner address (DIP)
//   FULLNAT  nothing: they answer the director's SNAT address, which is on their own segment
import { createHash } from "node:crypto";

import { planApply, type ApplyStep } from "@/server/ipvs/apply/plan";
import { checkRuleTable } from "@/server/ipvs/apply/validate";
import type { RealServer, RuleTable, VirtualService } from "@/server/ipvs/rules/model";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";

import { realServerPort, type WizardInput, type WizardMode } from "./input";
import { addressesOn, connectedAddress, type DirectorState, type StateWanted } from "./state";

export type DirectorStep =
  | { kind: "sysctl"; key: string; value: string; before: string | null }
  | { kind: "address"; ifname: string; address: string; prefixLen: number }
  | { kind: "nft-snat"; table: string; oifname: string; daddrs: string[]; snatTo: string }
  | { kind: "ipvs"; step: ApplyStep };

export type RealServerStep =
  | { kind: "sysctl"; key: string; value: string }
  | { kind: "address"; ifname: string; address: string; prefixLen: number }
  | { kind: "link-up"; ifname: string }
  | { kind: "module"; name: string }
  | { kind: "default-route"; via: string };

export interface RealServerPlan {
  address: string;
  steps: RealServerStep[];
  /** Why the steps (or why there are none). */
  note: string;
}

export interface WizardPlan {
  mode: WizardMode;
  director: DirectorStep[];
  realServers: RealServerPlan[];
  /** Things an administrator must know, e.g. FULLNAT hides the client's address. */
  notes: string[];
  /** sha256 of the director steps: wizard.apply refuses to run when the director changed since it was shown. */
  fingerprint: string;
}

const FORWARD: Record<WizardMode, RealServer["forward"]> = { dr: "gatewaying", tun: "ipip", nat: "masquerading", fullnat: "masquerading" };

export const FULLNAT_NOTE =
  "FULLNAT is not in mainline Linux: this is the stand-in (IPVS NAT, an nftables SNAT rule to the director's inner " +
  "address, net.ipv4.vs.conntrack=1). Real servers then see the director's address, not the client's: their logs " +
  "and access rules lose the client address.";

/** Sysctl keys of an interface: procps sysctl reads "a/b/c" too, which stays unambiguous when the name has a ".". */
export function confKey(ifname: string, leaf: string): string {
  return ifname.includes(".") ? `net/ipv4/conf/${ifname}/${leaf}` : `net.ipv4.conf.${ifname}.${leaf}`;
}

export function fullnatTable(vip: string): string {
  return `lvsdash_fullnat_${vip.replaceAll(".", "_")}`;
}

/** The VIP of a FULLNAT table the wizard made ("ip lvsdash_fullnat_192_0_2_100", as `nft list tables` names it), or null. */
export function fullnatTableVip(familyAndName: string): string | null {
  const m = /^ip lvsdash_fullnat_(\d{1,3})_(\d{1,3})_(\d{1,3})_(\d{1,3})$/.exec(familyAndName);
  return m === null ? null : m.slice(1).join(".");
}

/** The IPVS services the wizard adds, as a rules table (validated by server/ipvs/apply/validate.ts). */
export function wizardRuleTable(input: WizardInput): RuleTable {
  const services: VirtualService[] = input.ports.map((p) => ({
    key: { kind: "address", protocol: input.protocol === "tcp" ? "TCP" : "UDP", family: 4, address: input.vip, port: p },
    scheduler: input.scheduler,
    schedFlags: [],
    ...(input.persistence ? { persistent: { timeout: input.persistence.timeout, netmask: input.persistence.netmask } } : {}),
    onePacket: false,
    realServers: input.realServers.map((rs) => ({
      family: 4 as const,
      address: rs.address,
      port: realServerPort(input, rs, p),
      forward: FORWARD[input.mode],
      weight: rs.weight,
      upperThreshold: 0,
      lowerThreshold: 0,
    })),
  }));
  return { services, daemons: [] };
}

/** The sysctls the director needs, by mode. */
export function directorSysctls(mode: WizardMode): Record<string, string> {
  if (mode === "nat") return { "net.ipv4.ip_forward": "1" };
  if (mode === "fullnat") return { "net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "1" };
  return {};
}

/** What the agent must read for this input. */
export function stateWanted(input: WizardInput): StateWanted {
  const modules = ["ip_vs", `ip_vs_${input.scheduler}`];
  if (input.mode === "fullnat") modules.push("nf_tables", "nft_chain_nat", "nf_nat");
  return { sysctls: ["net.ipv4.ip_forward", "net.ipv4.vs.conntrack"], modules };
}

export function planWizard(input: WizardInput, state: DirectorState): WizardPlan {
  const director: DirectorStep[] = [];
  for (const [key, value] of Object.entries(directorSysctls(input.mode))) {
    const before = state.sysctls[key] ?? null;
    if (before !== value) director.push({ kind: "sysctl", key, value, before });
  }
  const vipHere = state.addresses.some((a) => a.address === input.vip);
  if (!vipHere) director.push({ kind: "address", ifname: input.director.interface, address: input.vip, prefixLen: 32 });
  if (input.mode === "fullnat" && input.director.innerInterface && input.director.snatAddress) {
    director.push({
      kind: "nft-snat",
      table: fullnatTable(input.vip),
      oifname: input.director.innerInterface,
      daddrs: [...new Set(input.realServers.map((r) => r.address))],
      snatTo: input.director.snatAddress,
    });
  }
  if (state.ipvs) {
    const desired = tableStateFromRules(wizardRuleTable(input));
    for (const step of planApply(state.ipvs, desired, { keepUnlisted: true }).steps) director.push({ kind: "ipvs", step });
  }

  const realServers = input.realServers.map((rs) => realServerPlan(input, state, rs));
  const notes: string[] = [];
  if (input.mode === "fullnat") notes.push(FULLNAT_NOTE);
  if (vipHere) notes.push(`The VIP ${input.vip} is already an address of this director: kept as it is (and not removed on rollback).`);
  return { mode: input.mode, director, realServers, notes, fingerprint: fingerprint(director) };
}

function realServerPlan(input: WizardInput, state: DirectorState, rs: WizardInput["realServers"][number]): RealServerPlan {
  const arp: RealServerStep[] = [
    { kind: "sysctl", key: "net.ipv4.conf.all.arp_ignore", value: "1" },
    { kind: "sysctl", key: "net.ipv4.conf.all.arp_announce", value: "2" },
    { kind: "sysctl", key: confKey(rs.interface, "arp_ignore"), value: "1" },
    { kind: "sysctl", key: confKey(rs.interface, "arp_announce"), value: "2" },
  ];
  const vip = (ifname: string): RealServerStep => ({ kind: "address", ifname, address: input.vip, prefixLen: 32 });
  switch (input.mode) {
    case "dr":
      return {
        address: rs.address,
        steps: [...arp, vip("lo")],
        note: "DR: the real server accepts packets for the VIP (on lo) but must never answer ARP for it, or the router sends clients straight to it.",
      };
    case "tun":
      return {
        address: rs.address,
        steps: [
          { kind: "module", name: "ipip" },
          ...arp,
          { kind: "sysctl", key: "net.ipv4.conf.all.rp_filter", value: "0" },
          { kind: "sysctl", key: "net.ipv4.conf.tunl0.rp_filter", value: "0" },
          { kind: "link-up", ifname: "tunl0" },
          vip("tunl0"),
        ],
        note: "TUN: the real server decapsulates IP-in-IP on tunl0, which holds the VIP; strict rp_filter would drop the inner packet.",
      };
    case "nat": {
      const dip = input.director.innerInterface ? connectedAddress(state, input.director.innerInterface, rs.address) : undefined;
      const via = dip?.address ?? addressesOn(state, input.director.innerInterface ?? "")[0]?.address ?? "DIP";
      return {
        address: rs.address,
        steps: [{ kind: "default-route", via }],
        note: "NAT: replies must go back through the director, which rewrites their source to the VIP: the real server's default gateway is the director's inner address.",
      };
    }
    case "fullnat":
      return {
        address: rs.address,
        steps: [],
        note: `FULLNAT: nothing to change; the real server answers ${input.director.snatAddress ?? "the SNAT address"}, which is on its own segment.`,
      };
  }
}

function fingerprint(steps: readonly DirectorStep[]): string {
  // Plans carry the services' "unknown" attribute arrays and no counters: plain JSON.
  return createHash("sha256").update(JSON.stringify(steps)).digest("hex").slice(0, 16);
}

/** The validation of server/ipvs/apply on the IPVS part (ports, weights, scheduler names, persistence). */
export function ipvsIssues(input: WizardInput): string[] {
  return checkRuleTable(wizardRuleTable(input)).map((i) => `${i.subject ? `${i.subject}: ` : ""}${i.message}`);
}
