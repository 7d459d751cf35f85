// Everything checked before a rules table goes near the kernel: addresses, ports, weights, thresholds,
// persistence, scheduler names and flags, and whether the kernel has each scheduler's (and persistence
// engine's) module. A table from parse.ts has passed most of these already; a table built by code (a wizard,
// the agent) has not, and the kernel's own checks come one command at a time, after earlier ones went in.
//
// Issues carry the line (and column) of the rules file when the table came from one: loadRulesForApply() maps
// each service and real server to the line that last defined it.
import { canonicalIPv6, parseIPv4 } from "@/server/ipvs/proc/addr";
import { SCHEDULERS } from "@/server/ipvs/netlink/constants";
import {
  GENERIC_SCHED_FLAG_NAMES,
  MAX_TIMEOUT,
  PERSISTENCE_ENGINES,
  SCHED_FLAG_NAMES,
  hostPort,
  serviceOption,
  type RealServer,
  type RuleTable,
  type ServiceKey,
  type VirtualService,
} from "@/server/ipvs/rules/model";
import { THRESHOLD_MAX, WEIGHT_MAX, parseIpvsadmRules, type RuleCommand } from "@/server/ipvs/rules/parse";
import { buildRuleTable } from "@/server/ipvs/rules/table";
import type { ModuleAvailability } from "@/server/kernel/modules";

export interface ValidationIssue {
  /** 1-based line of the rules file, when known. */
  line?: number;
  column?: number;
  /** The option at fault as written ("-w"). */
  option?: string;
  /** What the issue is about: "-t 192.0.2.1:80", "real server 198.51.100.2:80 of -t 192.0.2.1:80". */
  subject?: string;
  message: string;
}

/** "line 3, column 48 (-w): weight ...", "real server 198.51.100.2:80 of -t 192.0.2.1:80 (-w): weight ...". */
export function formatIssue(i: ValidationIssue): string {
  const opt = i.option ? ` (${i.option})` : "";
  const subject = i.subject && !i.message.includes(i.subject) ? i.subject : undefined;
  if (i.line !== undefined) {
    const where = i.column ? `line ${i.line}, column ${i.column}` : `line ${i.line}`;
    return `${where}${opt}: ${subject ? `${subject}: ` : ""}${i.message}`;
  }
  if (subject) return `${subject}${opt}: ${i.message}`;
  return `${i.option ? `${i.option}: ` : ""}${i.message}`;
}

/** Asks whether a kernel module can be used (server/kernel/modules.ts moduleAvailability, or a fake). */
export type ModuleProbe = (module: string) => Promise<ModuleAvailability>;

/** Where each service and real server was last defined in a rules file. */
export interface RuleLines {
  service(key: ServiceKey): number | undefined;
  server(key: ServiceKey, r: { family: 4 | 6; address: string; port: number }): number | undefined;
}

const svcId = (k: ServiceKey) => serviceOption(k);
const rsId = (k: ServiceKey, r: { family: 4 | 6; address: string; port: number }) => `${serviceOption(k)} ${hostPort(r.family, r.address, r.port)}`;

export function ruleLines(commands: readonly RuleCommand[]): RuleLines {
  const services = new Map<string, number>();
  const servers = new Map<string, number>();
  for (const c of commands) {
    if (c.op === "add-service" || c.op === "edit-service") services.set(svcId(c.key), c.line);
    if (c.op === "add-server" || c.op === "edit-server") servers.set(rsId(c.key, c.server), c.line);
  }
  return { service: (k) => services.get(svcId(k)), server: (k, r) => servers.get(rsId(k, r)) };
}

const isInt = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;

function addressProblem(family: 4 | 6, address: string): string | undefined {
  if (family === 4) return parseIPv4(address) === null ? `"${address}" is not an IPv4 address` : undefined;
  return canonicalIPv6(address) === null ? `"${address}" is not an IPv6 address` : undefined;
}

function checkService(svc: VirtualService, issue: (message: string, option?: string) => void): void {
  const k = svc.key;
  if (k.kind === "fwmark") {
    if (!isInt(k.fwmark, 1, 4294967295)) issue(`fwmark ${k.fwmark} is out of range (1..4294967295)`, "-f");
  } else {
    const bad = addressProblem(k.family, k.address);
    if (bad) issue(`virtual address ${bad}`);
    if (!isInt(k.port, 0, 65535)) issue(`port ${k.port} is out of range (1..65535)`);
    else if (k.port === 0 && !svc.persistent) issue("port 0 (any port) is only allowed for a persistent service (-p)");
  }
  if (!(SCHEDULERS as readonly string[]).includes(svc.scheduler)) {
    issue(`unknown scheduler "${svc.scheduler}" (known: ${SCHEDULERS.join(" ")})`, "-s");
  }
  const names = SCHED_FLAG_NAMES[svc.scheduler] ?? GENERIC_SCHED_FLAG_NAMES;
  for (const f of svc.schedFlags) {
    if (!names.includes(f) && !(GENERIC_SCHED_FLAG_NAMES as readonly string[]).includes(f)) issue(`scheduler flag "${f}" does not apply to the ${svc.scheduler} scheduler`, "-b");
  }
  if (svc.persistent) {
    const { timeout, netmask } = svc.persistent;
    if (!isInt(timeout, 1, MAX_TIMEOUT)) issue(`persistence timeout ${timeout} is out of range (1..${MAX_TIMEOUT})`, "-p");
    if (k.family === 6) {
      if (!/^\d+$/.test(netmask) || !isInt(Number(netmask), 1, 128)) issue(`IPv6 netmask "${netmask}" must be a prefix length from 1 to 128`, "-M");
    } else if (parseIPv4(netmask) === null) issue(`netmask "${netmask}" is not a dotted IPv4 mask`, "-M");
  }
  if (svc.persistenceEngine !== undefined && !(PERSISTENCE_ENGINES as readonly string[]).includes(svc.persistenceEngine)) {
    issue(`unknown persistence engine "${svc.persistenceEngine}" (known: ${PERSISTENCE_ENGINES.join(" ")})`, "--pe");
  }
  if (svc.onePacket && k.kind === "address" && k.protocol !== "UDP") issue("one-packet scheduling (-o) is only for UDP and fwmark services", "-o");
}

function checkServer(svc: VirtualService, r: RealServer, issue: (message: string, option?: string) => void): void {
  const k = svc.key;
  const bad = addressProblem(r.family, r.address);
  if (bad) issue(`real server address ${bad}`, "-r");
  if (r.family !== k.family && r.forward !== "ipip") issue(`real server is IPv${r.family} and the service IPv${k.family}: only tunnelling (-i) crosses families`, "-r");
  const anyPort = k.kind === "fwmark" || k.port === 0;
  if (!isInt(r.port, anyPort ? 0 : 1, 65535)) issue(`port ${r.port} is out of range (${anyPort ? 0 : 1}..65535)`, "-r");
  else if (k.kind === "address" && r.forward !== "masquerading" && r.port !== k.port) {
    issue(`port ${r.port}: direct routing and tunnelling keep the service's port (${k.port}); only masquerading (-m) maps ports`, "-r");
  }
  if (!isInt(r.weight, 0, WEIGHT_MAX)) issue(`weight ${r.weight} is out of range (0..${WEIGHT_MAX})`, "-w");
  if (!isInt(r.upperThreshold, 0, THRESHOLD_MAX)) issue(`upper threshold ${r.upperThreshold} is out of range (0..${THRESHOLD_MAX})`, "-x");
  if (!isInt(r.lowerThreshold, 0, THRESHOLD_MAX)) issue(`lower threshold ${r.lowerThreshold} is out of range (0..${THRESHOLD_MAX})`, "-y");
  else if (r.lowerThreshold > r.upperThreshold) {
    // ip_vs_add_dest / ip_vs_edit_dest refuse it (ERANGE) whether or not an upper threshold is set.
    issue(`lower threshold ${r.lowerThreshold} is above the upper threshold ${r.upperThreshold} (the kernel refuses it; set -x too)`, "-y");
  }
  if (r.forward !== "ipip" && r.tunnel) issue("tunnel options need -i (ipip forwarding)", "--tun-type");
  if (r.tunnel) {
    if (!["ipip", "gue", "gre"].includes(r.tunnel.type)) issue(`unknown tunnel type "${r.tunnel.type}"`, "--tun-type");
    if (r.tunnel.type === "gue" && !isInt(r.tunnel.port, 1, 65535)) issue(`tunnel port ${r.tunnel.port} is out of range (1..65535)`, "--tun-port");
  }
}

/** The checks that need no kernel: every issue of the table, in table order. */
export function checkRuleTable(table: RuleTable, lines?: RuleLines): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const svc of table.services) {
    const subject = serviceOption(svc.key);
    const line = lines?.service(svc.key);
    checkService(svc, (message, option) => issues.push({ line, option, subject, message }));
    for (const r of svc.realServers) {
      const rs = `real server ${hostPort(r.family, r.address, r.port)} of ${subject}`;
      const rline = lines?.server(svc.key, r) ?? line;
      checkServer(svc, r, (message, option) => issues.push({ line: rline, option, subject: rs, message }));
    }
  }
  if (table.timeouts) {
    for (const [name, v] of Object.entries(table.timeouts)) {
      if (!isInt(v, 0, MAX_TIMEOUT)) issues.push({ option: "--set", message: `${name} timeout ${v} is out of range (0..${MAX_TIMEOUT})` });
    }
  }
  for (const d of table.daemons) {
    const subject = `${d.state} sync daemon`;
    if (!/^[^\s/:]{1,15}$/.test(d.mcastInterface)) issues.push({ subject, option: "--mcast-interface", message: `"${d.mcastInterface}" is not an interface name (1..15 characters)` });
    if (!isInt(d.syncId, 0, 255)) issues.push({ subject, option: "--syncid", message: `sync id ${d.syncId} is out of range (0..255)` });
  }
  return issues.map(({ line, option, ...rest }) => ({ ...(line !== undefined ? { line } : {}), ...(option ? { option } : {}), ...rest }));
}

/** Asks the kernel side (through `probe`) for every scheduler and persistence engine module the table uses. */
export async function checkModules(table: RuleTable, probe: ModuleProbe, lines?: RuleLines): Promise<ValidationIssue[]> {
  const wanted = new Map<string, VirtualService[]>();
  for (const svc of table.services) {
    if ((SCHEDULERS as readonly string[]).includes(svc.scheduler)) wanted.set(`ip_vs_${svc.scheduler}`, [...(wanted.get(`ip_vs_${svc.scheduler}`) ?? []), svc]);
    if (svc.persistenceEngine && (PERSISTENCE_ENGINES as readonly string[]).includes(svc.persistenceEngine)) {
      const m = `ip_vs_pe_${svc.persistenceEngine}`;
      wanted.set(m, [...(wanted.get(m) ?? []), svc]);
    }
  }
  const issues: ValidationIssue[] = [];
  const answers = await Promise.all([...wanted.keys()].map(async (m) => [m, await probe(m)] as const));
  for (const [module, availability] of answers) {
    if (availability !== "missing") continue;
    for (const svc of wanted.get(module)!) {
      const line = lines?.service(svc.key);
      const what = module.startsWith("ip_vs_pe_") ? `persistence engine "${svc.persistenceEngine}"` : `scheduler "${svc.scheduler}"`;
      issues.push({
        ...(line !== undefined ? { line } : {}),
        option: module.startsWith("ip_vs_pe_") ? "--pe" : "-s",
        subject: serviceOption(svc.key),
        message: `${what}: this kernel has no module ${module} (not loaded, not built in, not in /lib/modules)`,
      });
    }
  }
  return issues;
}

export async function validateRuleTable(table: RuleTable, opts: { probe: ModuleProbe; lines?: RuleLines }): Promise<ValidationIssue[]> {
  const issues = checkRuleTable(table, opts.lines);
  return [...issues, ...(await checkModules(table, opts.probe, opts.lines))].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** A rules file read, built and validated: the table (and where each of its parts was defined) only when
 *  there is no issue at all. */
export async function loadRulesForApply(
  text: string,
  probe: ModuleProbe,
): Promise<{ table: RuleTable; lines: RuleLines; issues: [] } | { table: null; issues: ValidationIssue[] }> {
  const parsed = parseIpvsadmRules(text);
  const built = buildRuleTable(parsed.commands);
  const lines = ruleLines(parsed.commands);
  const issues: ValidationIssue[] = [...parsed.errors, ...built.errors].map((e) => ({ line: e.line, ...(e.column ? { column: e.column } : {}), ...(e.option ? { option: e.option } : {}), message: e.message }));
  issues.push(...(await validateRuleTable(built.table, { probe, lines })));
  issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return issues.length ? { table: null, issues } : { table: built.table, lines, issues: [] };
}
