// keepalived.conf's virtual_server blocks as an IPVS rule table (server/ipvs/rules/model.ts), for import:
// what keepalived's check process would put in IPVS, without its health checks. PURE.
//
//   virtual_server 192.0.2.100 80 {          | virtual_server fwmark 7 {
//       lb_algo wrr                          |   (lvs_sched: the newer name)
//       lb_kind DR                           |   (lvs_method: the newer name; NAT, DR or TUN)
//       persistence_timeout 300              |   persistence_granularity 255.255.255.0
//       protocol TCP                         |   ops, sh-port, sh-fallback, mh-port, mh-fallback
//       real_server 192.0.2.11 80 {
//           weight 2                         |   uthreshold N, lthreshold N
//           TCP_CHECK { connect_timeout 3 }  |   health checkers: not IPVS state, skipped with a note
//       }
//   }
//
// The syntax (keepalived's parser.c): words separated by blanks, "!" or "#" starts a comment, "{" and "}"
// open and close a block and may stand anywhere. Everything outside virtual_server (global_defs,
// vrrp_instance, ...) is skipped. What cannot become IPVS state here is an error (virtual_server_group,
// include) or a note (sorry_server, quorum, checkers), never silently dropped.
//
// keepalived's defaults (check_data.c, alloc_vs/alloc_rs): lvs_sched "wlc" is what ipvsadm also uses, but
// keepalived's default lvs_method is NAT; protocol TCP; weight 1; persistence_granularity 255.255.255.255;
// a real server without a port gets the virtual server's.
import { parseIPv4 } from "@/server/ipvs/proc/addr";
import type { ForwardOption, RealServer, RuleTable, ServiceKey, ServiceProtocol, VirtualService } from "@/server/ipvs/rules/model";

export interface KeepalivedError {
  line: number;
  message: string;
}

export interface KeepalivedImport {
  table: RuleTable;
  errors: KeepalivedError[];
  /** What was read but is not IPVS state (health checks, sorry servers, quorum). */
  notes: string[];
}

/** One statement: its words, and the block after it when there is one. */
export interface ConfNode {
  line: number;
  words: string[];
  children?: ConfNode[];
}

const KEEPALIVED_DEFAULT_SCHEDULER = "wlc";
const KIND: Record<string, ForwardOption> = { NAT: "masquerading", DR: "gatewaying", TUN: "ipip" };
const PROTOCOLS: readonly ServiceProtocol[] = ["TCP", "UDP", "SCTP"];
const SCHED_FLAGS = new Set(["sh-port", "sh-fallback", "mh-port", "mh-fallback"]);
const CHECKERS = new Set(["TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "BFD_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK"]);
/** virtual_server keywords that only tune keepalived's checker or notifications. */
const CHECKER_SETTINGS = new Set([
  "delay_loop", "retry", "delay_before_retry", "warmup", "virtualhost", "alpha", "omega", "quorum", "quorum_up", "quorum_down",
  "hysteresis", "ha_suspend", "inhibit_on_failure", "notify_up", "notify_down", "smtp_alert", "connect_timeout",
  "sorry_server_inhibit", "sorry_server_lvs_method",
]);

/** Splits the text into statements and blocks. */
export function parseKeepalivedConf(text: string): { nodes: ConfNode[]; errors: KeepalivedError[] } {
  const errors: KeepalivedError[] = [];
  const tokens: { word: string; line: number }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const uncommented = raw.replace(/[!#].*$/, "");
    for (const w of uncommented.replace(/([{}])/g, " $1 ").split(/\s+/)) if (w) tokens.push({ word: w, line: i + 1 });
  });
  let pos = 0;
  const block = (depth: number): ConfNode[] => {
    const out: ConfNode[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos]!;
      if (t.word === "}") {
        if (depth === 0) errors.push({ line: t.line, message: 'a "}" without its "{"' });
        pos++;
        if (depth > 0) return out;
        continue;
      }
      if (t.word === "{") {
        // A block without a statement before it: read and drop it.
        pos++;
        errors.push({ line: t.line, message: 'a "{" without a keyword before it' });
        block(depth + 1);
        continue;
      }
      const node: ConfNode = { line: t.line, words: [] };
      while (pos < tokens.length && tokens[pos]!.line === t.line && tokens[pos]!.word !== "{" && tokens[pos]!.word !== "}") {
        node.words.push(tokens[pos]!.word);
        pos++;
      }
      if (pos < tokens.length && tokens[pos]!.word === "{") {
        pos++;
        node.children = block(depth + 1);
      }
      out.push(node);
    }
    if (depth > 0) errors.push({ line: tokens[tokens.length - 1]?.line ?? 1, message: 'the file ends inside a block: a "}" is missing' });
    return out;
  };
  const nodes = block(0);
  return { nodes, errors };
}

const isUint = (s: string | undefined, max: number) => s !== undefined && /^\d+$/.test(s) && Number(s) <= max;

function parseAddress(s: string | undefined): { family: 4 | 6; address: string } | null {
  if (s === undefined) return null;
  if (parseIPv4(s) !== null && /^\d+\.\d+\.\d+\.\d+$/.test(s)) return { family: 4, address: s.split(".").map(Number).join(".") };
  if (/^[0-9a-fA-F:]+$/.test(s) && s.includes(":")) {
    try {
      return { family: 6, address: new URL(`http://[${s}]/`).hostname.slice(1, -1) };
    } catch {
      return null;
    }
  }
  return null;
}

/** The virtual_server blocks of a keepalived.conf as IPVS services. */
export function importKeepalived(text: string): KeepalivedImport {
  const { nodes, errors } = parseKeepalivedConf(text);
  const notes: string[] = [];
  const services: VirtualService[] = [];
  const error = (line: number, message: string) => errors.push({ line, message });

  for (const node of nodes) {
    const [keyword] = node.words;
    if (keyword === "include") error(node.line, "include is not followed: import the included file itself");
    if (keyword === "virtual_server_group") error(node.line, "virtual_server_group is not supported: list each address as its own virtual_server");
    if (keyword !== "virtual_server") continue;
    const svc = virtualServer(node, error, notes);
    if (svc) services.push(svc);
  }
  return { table: { services, daemons: [] }, errors, notes };
}

function virtualServer(node: ConfNode, error: (line: number, message: string) => void, notes: string[]): VirtualService | null {
  const [, a1, a2] = node.words;
  const name = node.words.slice(1).join(" ");
  if (!node.children) {
    error(node.line, `virtual_server ${name}: no block`);
    return null;
  }
  let fwmark: number | null = null;
  let vip: { family: 4 | 6; address: string } | null = null;
  let vport = 0;
  if (a1 === "group") {
    error(node.line, "virtual_server group is not supported: list each address as its own virtual_server");
    return null;
  } else if (a1 === "fwmark") {
    if (!isUint(a2, 0xffffffff) || Number(a2) === 0) {
      error(node.line, `virtual_server fwmark ${a2 ?? ""}: a mark is 1..4294967295`);
      return null;
    }
    fwmark = Number(a2);
  } else {
    vip = parseAddress(a1);
    if (!vip) {
      error(node.line, `virtual_server ${name}: ${a1 ?? "(nothing)"} is not an IP address`);
      return null;
    }
    if (!isUint(a2, 65535)) {
      error(node.line, `virtual_server ${name}: the port ${a2 ?? "(missing)"} is not 0..65535`);
      return null;
    }
    vport = Number(a2);
  }

  let scheduler = KEEPALIVED_DEFAULT_SCHEDULER;
  let kind: ForwardOption = "masquerading";
  let protocol: ServiceProtocol = "TCP";
  let persistTimeout: number | null = null;
  let granularity: string | null = null;
  let family6 = vip?.family === 6;
  let onePacket = false;
  let persistenceEngine: string | undefined;
  const schedFlags: string[] = [];
  const reals: { node: ConfNode; kind: ForwardOption | null }[] = [];

  for (const c of node.children) {
    const [k, v] = c.words;
    switch (k) {
      case "lb_algo":
      case "lvs_sched":
        if (!v || !/^[a-z0-9_]{1,15}$/.test(v)) error(c.line, `${k}: not a scheduler name: ${v ?? "(missing)"}`);
        else scheduler = v;
        break;
      case "lb_kind":
      case "lvs_method": {
        const f = v ? KIND[v.toUpperCase()] : undefined;
        if (!f) error(c.line, `${k}: ${v ?? "(missing)"} is not NAT, DR or TUN`);
        else kind = f;
        break;
      }
      case "protocol": {
        const p = v?.toUpperCase() as ServiceProtocol | undefined;
        if (!p || !PROTOCOLS.includes(p)) error(c.line, `protocol: ${v ?? "(missing)"} is not TCP, UDP or SCTP`);
        else protocol = p;
        break;
      }
      case "persistence_timeout":
        if (!isUint(v, 86400 * 31)) error(c.line, `persistence_timeout: ${v ?? "(missing)"} is not 0..${86400 * 31} s`);
        else persistTimeout = Number(v);
        break;
      case "persistence_granularity":
        if (!v) error(c.line, "persistence_granularity: missing the netmask");
        else granularity = v;
        break;
      case "persistence_engine":
        if (v !== "sip") error(c.line, `persistence_engine: ${v ?? "(missing)"} is not sip`);
        else persistenceEngine = v;
        break;
      case "ops":
        onePacket = true;
        break;
      case "ip_family":
        if (v === "inet6") family6 = true;
        break;
      case "real_server":
        reals.push({ node: c, kind: null });
        break;
      case "sorry_server":
        notes.push(`virtual_server ${name}: sorry_server ${c.words.slice(1).join(" ")} is used by keepalived only when every real server is down: not imported`);
        break;
      default:
        if (k && SCHED_FLAGS.has(k)) schedFlags.push(k);
        else if (k && (CHECKER_SETTINGS.has(k) || CHECKERS.has(k))) {
          /* keepalived's own checker settings: not IPVS state */
        } else error(c.line, `virtual_server ${name}: unknown keyword ${k ?? ""}`);
    }
  }

  const key: ServiceKey = fwmark !== null ? { kind: "fwmark", fwmark, family: family6 ? 6 : 4 } : { kind: "address", protocol, family: vip!.family, address: vip!.address, port: vport };
  const realServers: RealServer[] = [];
  let checkers = 0;
  for (const r of reals) {
    const [, addr, port] = r.node.words;
    const rip = parseAddress(addr);
    if (!rip) {
      error(r.node.line, `real_server ${addr ?? ""}: not an IP address`);
      continue;
    }
    if (port !== undefined && !isUint(port, 65535)) {
      error(r.node.line, `real_server ${addr}: the port ${port} is not 0..65535`);
      continue;
    }
    const rs: RealServer = { family: rip.family, address: rip.address, port: port === undefined ? vport : Number(port), forward: kind, weight: 1, upperThreshold: 0, lowerThreshold: 0 };
    for (const c of r.node.children ?? []) {
      const [k, v] = c.words;
      if (k === "weight") {
        if (!isUint(v, 2147483647)) error(c.line, `weight: ${v ?? "(missing)"} is not 0..2147483647`);
        else rs.weight = Number(v);
      } else if (k === "uthreshold" || k === "lthreshold") {
        if (!isUint(v, 2147483647)) error(c.line, `${k}: ${v ?? "(missing)"} is not a whole number`);
        else rs[k === "uthreshold" ? "upperThreshold" : "lowerThreshold"] = Number(v);
      } else if (k === "lvs_method" || k === "lb_kind") {
        const f = v ? KIND[v.toUpperCase()] : undefined;
        if (!f) error(c.line, `${k}: ${v ?? "(missing)"} is not NAT, DR or TUN`);
        else rs.forward = f;
      } else if (k && CHECKERS.has(k)) {
        checkers++;
      } else if (k && !CHECKER_SETTINGS.has(k)) {
        error(c.line, `real_server ${addr}: unknown keyword ${k}`);
      }
    }
    realServers.push(rs);
  }
  if (checkers > 0) notes.push(`virtual_server ${name}: ${checkers} health check(s) not imported (IPVS has no health checks; keepalived adds and removes real servers by them)`);

  const svc: VirtualService = { key, scheduler, schedFlags, onePacket, realServers };
  if (persistTimeout !== null && persistTimeout > 0) {
    svc.persistent = { timeout: persistTimeout, netmask: granularity ?? (key.family === 6 ? "128" : "255.255.255.255") };
  } else if (granularity !== null) {
    notes.push(`virtual_server ${name}: persistence_granularity without persistence_timeout has no effect`);
  }
  if (persistenceEngine) svc.persistenceEngine = persistenceEngine;
  return svc;
}
