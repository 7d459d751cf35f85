// An IPVS rule table as keepalived.conf virtual_server blocks, for export: what keepalived would need to
// rebuild these services. PURE; importKeepalived (parse.ts) reads it back to the same table.
//
// keepalived has no IPVS sync daemons or global timeouts in virtual_server (those are ipvsadm-save's), and
// the export has no health checks (IPVS knows none): the header says so. Every value written is a number,
// an address or a name checked by the rules model, so nothing needs quoting. Real servers whose forwarding
// differs from the service's first one get their own lvs_method (keepalived 2.2 and later read it).
import { compareRealServers, compareServiceKeys } from "@/server/ipvs/rules/emit";
import type { ForwardOption, RuleTable, VirtualService } from "@/server/ipvs/rules/model";

const METHOD: Record<ForwardOption, string> = { masquerading: "NAT", gatewaying: "DR", ipip: "TUN" };

export interface KeepalivedEmitOptions {
  /** First comment line (default: says where it came from and what is missing). */
  header?: string;
}

function block(svc: VirtualService): string[] {
  const k = svc.key;
  const head = k.kind === "fwmark" ? `virtual_server fwmark ${k.fwmark} {` : `virtual_server ${k.address} ${k.port} {`;
  const method = svc.realServers[0]?.forward ?? "masquerading";
  const lines = [head, `    lvs_sched ${svc.scheduler}`, `    lvs_method ${METHOD[method]}`];
  if (k.kind === "fwmark" && k.family === 6) lines.push("    ip_family inet6");
  for (const f of svc.schedFlags) if (/^(sh|mh)-(port|fallback)$/.test(f)) lines.push(`    ${f}`);
  if (svc.onePacket) lines.push("    ops");
  if (svc.persistent) {
    lines.push(`    persistence_timeout ${svc.persistent.timeout}`);
    const full = k.family === 6 ? "128" : "255.255.255.255";
    if (svc.persistent.netmask !== full) lines.push(`    persistence_granularity ${svc.persistent.netmask}`);
  }
  if (svc.persistenceEngine) lines.push(`    persistence_engine ${svc.persistenceEngine}`);
  lines.push(`    protocol ${k.kind === "fwmark" ? "TCP" : k.protocol}`);
  for (const r of [...svc.realServers].sort(compareRealServers)) {
    lines.push(`    real_server ${r.address} ${r.port} {`, `        weight ${r.weight}`);
    if (r.forward !== method) lines.push(`        lvs_method ${METHOD[r.forward]}`);
    if (r.upperThreshold) lines.push(`        uthreshold ${r.upperThreshold}`);
    if (r.lowerThreshold) lines.push(`        lthreshold ${r.lowerThreshold}`);
    lines.push("    }");
  }
  lines.push("}");
  return lines;
}

export function emitKeepalived(table: RuleTable, options: KeepalivedEmitOptions = {}): string {
  const header = options.header ?? "lvs-dashboard export: the IPVS services as keepalived virtual_server blocks";
  const out = [
    `! ${header}`,
    "! No health checks: add a TCP_CHECK or HTTP_GET to each real_server, or keepalived keeps them all in service.",
    "",
  ];
  for (const svc of [...table.services].sort((a, b) => compareServiceKeys(a.key, b.key))) out.push(...block(svc), "");
  return out.join("\n");
}
