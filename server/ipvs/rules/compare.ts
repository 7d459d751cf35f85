// Does the running table (/proc/net/ip_vs) match a rule table? Drift between a rules file and the kernel
// is what an admin wants named, one difference a line, in ipvsadm's words.
//
// /proc shows less than the rules say (services.ts): no scheduler flags, engine, thresholds or tunnel
// options; no "ops" for IPv6 services; no family for fwmark services without real servers. Those are not
// compared. The kernel may show "Local" for a real server on the director itself, whatever method the
// rules gave: that counts as a match.

import type { ForwardMethod, ProcIpVsTable, ProcService } from "../proc/services";
import { type ForwardOption, type RuleTable, type VirtualService, hostPort, serviceOption } from "./model";

const FORWARD_NAMES: Readonly<Record<ForwardOption, ForwardMethod>> = {
  gatewaying: "Route",
  masquerading: "Masq",
  ipip: "Tunnel",
};

function matches(svc: VirtualService, p: ProcService): boolean {
  const k = svc.key;
  if (k.kind === "fwmark") return p.protocol === "FWM" && p.fwmark === k.fwmark && (p.family === null || p.family === k.family);
  return p.protocol === k.protocol && p.family === k.family && p.address === k.address && p.port === k.port;
}

/** The differences between the rules and the kernel's table; [] when they agree. */
export function compareRulesWithProc(rules: RuleTable, proc: ProcIpVsTable): string[] {
  const out: string[] = [];
  const unmatched = new Set(proc.services);
  for (const svc of rules.services) {
    const name = serviceOption(svc.key);
    const p = proc.services.find((x) => unmatched.has(x) && matches(svc, x));
    if (!p) {
      out.push(`service ${name} is in the rules but not in the kernel`);
      continue;
    }
    unmatched.delete(p);
    if (p.scheduler !== svc.scheduler) out.push(`service ${name}: scheduler ${svc.scheduler} in the rules, ${p.scheduler} in the kernel`);
    const rp = svc.persistent;
    if (!rp !== !p.persistent) {
      out.push(`service ${name}: ${rp ? "persistent" : "not persistent"} in the rules, ${p.persistent ? "persistent" : "not persistent"} in the kernel`);
    } else if (rp && p.persistent) {
      if (rp.timeout !== p.persistent.timeout) out.push(`service ${name}: persistence timeout ${rp.timeout} s in the rules, ${p.persistent.timeout} s in the kernel`);
      if (p.family !== null && rp.netmask !== p.persistent.netmask) out.push(`service ${name}: persistence netmask ${rp.netmask} in the rules, ${p.persistent.netmask} in the kernel`);
    }
    if (svc.key.family === 4 && svc.onePacket !== p.onePacket) {
      out.push(`service ${name}: one-packet scheduling ${svc.onePacket ? "on" : "off"} in the rules, ${p.onePacket ? "on" : "off"} in the kernel`);
    }
    const left = new Set(p.realServers);
    for (const r of svc.realServers) {
      const rs = `real server ${hostPort(r.family, r.address, r.port)} of ${name}`;
      const k = p.realServers.find((x) => left.has(x) && x.family === r.family && x.address === r.address && x.port === r.port);
      if (!k) {
        out.push(`${rs} is in the rules but not in the kernel`);
        continue;
      }
      left.delete(k);
      if (k.weight !== r.weight) out.push(`${rs}: weight ${r.weight} in the rules, ${k.weight} in the kernel`);
      if (k.forward !== FORWARD_NAMES[r.forward] && k.forward !== "Local") {
        out.push(`${rs}: forwarding ${FORWARD_NAMES[r.forward]} in the rules, ${k.forward} in the kernel`);
      }
    }
    for (const k of left) out.push(`real server ${hostPort(k.family, k.address, k.port)} of ${name} is in the kernel but not in the rules`);
  }
  for (const p of unmatched) {
    const name = p.protocol === "FWM" ? `-f ${p.fwmark}` : `${p.protocol} ${hostPort(p.family ?? 4, p.address, p.port)}`;
    out.push(`service ${name} is in the kernel but not in the rules`);
  }
  return out;
}
