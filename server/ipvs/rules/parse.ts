// Reads the ipvsadm rule format: what `ipvsadm-save -n` writes and `ipvsadm-restore` (ipvsadm -R) reads,
// one ipvsadm command line per line. The options, their values and their checks follow ipvsadm 1.31's
// parse_options() and process_options() (ipvsadm.c, popt):
//
//   -A|-E  -t|-u|--sctp-service host[:port] | -f fwmark [-6]   [-s sched] [-b flags] [-p [timeout]]
//          [-M netmask|prefix] [--pe engine] [-o]
//   -D     <service>
//   -a|-e  <service> -r host[:port] [-g|-m|-i] [-w weight] [-x upper] [-y lower]
//          [--tun-type ipip|gue|gre] [--tun-port port] [--tun-nocsum|--tun-csum|--tun-remcsum]
//   -d     <service> -r host[:port]
//   -C     -Z [<service>]     --set tcp tcpfin udp
//   --start-daemon master|backup [--mcast-interface if] [--syncid n] [--sync-maxlen n]
//          [--mcast-group addr] [--mcast-port n] [--mcast-ttl n]
//   --stop-daemon master|backup [--syncid n]
//
// Long forms (--add-service, --tcp-service, --scheduler, --weight=5, ...), clustered short options
// ("-At", "-slc", "-t192.0.2.1:80") and a leading "ipvsadm" word are accepted as popt accepts them.
// Lines starting with "#" are skipped (ipvsadm-restore filters them). Unlike ipvsadm we take numeric
// addresses and ports only: a rules file that depends on DNS or /etc/services is not reproducible.
//
// Every problem is reported with its line, column and option in the admin's words, and reading goes on
// with the next line so that one pass shows every mistake.

import { canonicalIPv6, formatIPv4, parseIPv4, parseIPv6Groups } from "../proc/addr";
import {
  DEFAULT_PERSISTENT_TIMEOUT,
  DEFAULT_SCHEDULER,
  GENERIC_SCHED_FLAG_NAMES,
  MAX_TIMEOUT,
  PERSISTENCE_ENGINES,
  type RealServer,
  SCHED_FLAG_NAMES,
  SCHEDULERS,
  type ServiceKey,
  type SyncDaemon,
  type TunnelChecksum,
  type TunnelType,
} from "./model";

/** -w: 0..INT_MAX. Some ipvsadm sources stop at 65535; Debian's 1.31 takes 2147483647 (checked in the lab). */
export const WEIGHT_MAX = 2147483647;
/** -x / -y: string_to_number(optarg, 0, INT_MAX). */
export const THRESHOLD_MAX = 2147483647;

export interface RuleError {
  line: number;
  /** 1-based column of the token at fault (0 when the line as a whole is wrong). */
  column: number;
  /** The option as written ("-w", "--weight"), when one is at fault. */
  option?: string;
  message: string;
}

export function formatRuleError(e: RuleError): string {
  const where = e.column > 0 ? `line ${e.line}, column ${e.column}` : `line ${e.line}`;
  return `${where}${e.option ? ` (${e.option})` : ""}: ${e.message}`;
}

export type ServiceSettings = {
  scheduler: string;
  schedFlags: string[];
  persistent?: { timeout: number; netmask: string };
  persistenceEngine?: string;
  onePacket: boolean;
};

export type RuleCommand = { line: number } & (
  | ({ op: "add-service" | "edit-service"; key: ServiceKey } & ServiceSettings)
  | { op: "delete-service"; key: ServiceKey }
  | { op: "add-server" | "edit-server"; key: ServiceKey; server: RealServer }
  | { op: "delete-server"; key: ServiceKey; family: 4 | 6; address: string; port: number }
  | { op: "clear" }
  | { op: "zero"; key?: ServiceKey }
  | { op: "set-timeouts"; tcp: number; tcpFin: number; udp: number }
  | { op: "start-daemon"; daemon: SyncDaemon }
  | { op: "stop-daemon"; state: "master" | "backup"; syncId?: number }
);

// ---------------------------------------------------------------------------------------------------
// 1. The option table (parse_options' poptOption table)

type Command = "A" | "E" | "D" | "C" | "Z" | "a" | "e" | "d" | "set" | "start-daemon" | "stop-daemon";
type Arg = "none" | "required" | "optional";

interface OptionSpec {
  id: string;
  long: string;
  short?: string;
  arg: Arg;
  command?: Command;
}

const OPTIONS: readonly OptionSpec[] = [
  { id: "A", long: "add-service", short: "A", arg: "none", command: "A" },
  { id: "E", long: "edit-service", short: "E", arg: "none", command: "E" },
  { id: "D", long: "delete-service", short: "D", arg: "none", command: "D" },
  { id: "C", long: "clear", short: "C", arg: "none", command: "C" },
  { id: "Z", long: "zero", short: "Z", arg: "none", command: "Z" },
  { id: "a", long: "add-server", short: "a", arg: "none", command: "a" },
  { id: "e", long: "edit-server", short: "e", arg: "none", command: "e" },
  { id: "d", long: "delete-server", short: "d", arg: "none", command: "d" },
  { id: "set", long: "set", arg: "none", command: "set" },
  { id: "start-daemon", long: "start-daemon", arg: "required", command: "start-daemon" },
  { id: "stop-daemon", long: "stop-daemon", arg: "required", command: "stop-daemon" },
  { id: "t", long: "tcp-service", short: "t", arg: "required" },
  { id: "u", long: "udp-service", short: "u", arg: "required" },
  { id: "sctp", long: "sctp-service", arg: "required" },
  { id: "f", long: "fwmark-service", short: "f", arg: "required" },
  { id: "6", long: "ipv6", short: "6", arg: "none" },
  { id: "s", long: "scheduler", short: "s", arg: "required" },
  { id: "b", long: "sched-flags", short: "b", arg: "required" },
  { id: "p", long: "persistent", short: "p", arg: "optional" },
  { id: "M", long: "netmask", short: "M", arg: "required" },
  { id: "pe", long: "pe", arg: "required" },
  { id: "o", long: "ops", short: "o", arg: "none" },
  { id: "r", long: "real-server", short: "r", arg: "required" },
  { id: "g", long: "gatewaying", short: "g", arg: "none" },
  { id: "m", long: "masquerading", short: "m", arg: "none" },
  { id: "i", long: "ipip", short: "i", arg: "none" },
  { id: "w", long: "weight", short: "w", arg: "required" },
  { id: "x", long: "u-threshold", short: "x", arg: "required" },
  { id: "y", long: "l-threshold", short: "y", arg: "required" },
  { id: "tun-type", long: "tun-type", arg: "required" },
  { id: "tun-port", long: "tun-port", arg: "required" },
  { id: "tun-nocsum", long: "tun-nocsum", arg: "none" },
  { id: "tun-csum", long: "tun-csum", arg: "none" },
  { id: "tun-remcsum", long: "tun-remcsum", arg: "none" },
  { id: "mcast-interface", long: "mcast-interface", arg: "required" },
  { id: "syncid", long: "syncid", arg: "required" },
  { id: "sync-maxlen", long: "sync-maxlen", arg: "required" },
  { id: "mcast-group", long: "mcast-group", arg: "required" },
  { id: "mcast-port", long: "mcast-port", arg: "required" },
  { id: "mcast-ttl", long: "mcast-ttl", arg: "required" },
];

/** Options ipvsadm has that do not belong in a rules file, and why. */
const NOT_RULES: Readonly<Record<string, string>> = {
  L: "lists the table",
  l: "lists the table",
  list: "lists the table",
  S: "saves the table",
  save: "saves the table",
  R: "restores a table",
  restore: "restores a table",
  h: "prints help",
  help: "prints help",
  v: "prints the version",
  version: "prints the version",
  n: "is a listing option",
  numeric: "is a listing option",
  c: "is a listing option",
  connection: "is a listing option",
};

const BY_LONG = new Map(OPTIONS.map((o) => [o.long, o]));
const BY_SHORT = new Map(OPTIONS.flatMap((o) => (o.short ? [[o.short, o] as const] : [])));

const SERVICE_OPTIONS = ["t", "u", "sctp", "f"];
const SERVICE_SETTINGS = ["s", "b", "p", "M", "pe", "o"];
const SERVER_SETTINGS = ["g", "m", "i", "w", "x", "y", "tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"];
const DAEMON_SETTINGS = ["mcast-interface", "syncid", "sync-maxlen", "mcast-group", "mcast-port", "mcast-ttl"];

/** commands_v_options: what each command takes besides itself ("6" goes with any service). */
const ALLOWED: Readonly<Record<Command, readonly string[]>> = {
  A: [...SERVICE_OPTIONS, "6", ...SERVICE_SETTINGS],
  E: [...SERVICE_OPTIONS, "6", ...SERVICE_SETTINGS],
  D: [...SERVICE_OPTIONS, "6"],
  C: [],
  Z: [...SERVICE_OPTIONS, "6"],
  a: [...SERVICE_OPTIONS, "6", "r", ...SERVER_SETTINGS],
  e: [...SERVICE_OPTIONS, "6", "r", ...SERVER_SETTINGS],
  d: [...SERVICE_OPTIONS, "6", "r"],
  set: [],
  "start-daemon": DAEMON_SETTINGS,
  "stop-daemon": ["syncid"],
};

const COMMAND_WORDS: Readonly<Record<Command, string>> = {
  A: "-A (add service)",
  E: "-E (edit service)",
  D: "-D (delete service)",
  C: "-C (clear)",
  Z: "-Z (zero counters)",
  a: "-a (add real server)",
  e: "-e (edit real server)",
  d: "-d (delete real server)",
  set: "--set",
  "start-daemon": "--start-daemon",
  "stop-daemon": "--stop-daemon",
};

// ---------------------------------------------------------------------------------------------------
// 2. Tokens and options of one line

interface Token {
  text: string;
  column: number;
}

/** Splits a line into words, keeping each word's column; "..." and '...' group words. */
function tokenize(line: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i] as string)) i++;
    if (i >= line.length) break;
    const column = i + 1;
    let text = "";
    while (i < line.length && !/\s/.test(line[i] as string)) {
      const c = line[i] as string;
      if (c === '"' || c === "'") {
        const end = line.indexOf(c, i + 1);
        if (end < 0) return `unterminated quote at column ${i + 1}`;
        text += line.slice(i + 1, end);
        i = end + 1;
      } else {
        text += c;
        i++;
      }
    }
    tokens.push({ text, column });
  }
  return tokens;
}

interface Given {
  spec: OptionSpec;
  /** As written: "-w", "--weight". */
  spelled: string;
  value: string | undefined;
  column: number;
  /** Column of the value (the option's own when the value is attached). */
  valueColumn: number;
}

class LineError extends Error {
  constructor(
    readonly column: number,
    readonly option: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

function readOptions(tokens: Token[]): { given: Given[]; positional: Token[] } {
  const given: Given[] = [];
  const positional: Token[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const tok = tokens[k] as Token;
    const next = tokens[k + 1];
    const take = (spec: OptionSpec, spelled: string, inline: string | undefined, inlineColumn: number) => {
      if (spec.arg === "none") {
        if (inline !== undefined) throw new LineError(tok.column, spelled, `${spelled} takes no value`);
        given.push({ spec, spelled, value: undefined, column: tok.column, valueColumn: tok.column });
      } else if (inline !== undefined) {
        given.push({ spec, spelled, value: inline, column: tok.column, valueColumn: inlineColumn });
      } else if (next && (spec.arg === "required" || !next.text.startsWith("-"))) {
        given.push({ spec, spelled, value: next.text, column: tok.column, valueColumn: next.column });
        k++;
      } else if (spec.arg === "optional") {
        given.push({ spec, spelled, value: undefined, column: tok.column, valueColumn: tok.column });
      } else throw new LineError(tok.column, spelled, `${spelled} needs a value`);
    };
    const t = tok.text;
    if (t.startsWith("--") && t.length > 2) {
      const eq = t.indexOf("=");
      const name = eq < 0 ? t.slice(2) : t.slice(2, eq);
      const spec = BY_LONG.get(name);
      if (!spec) {
        const why = NOT_RULES[name];
        throw new LineError(tok.column, `--${name}`, why ? `--${name} ${why}, it is not a rule` : `unknown option "--${name}"`);
      }
      take(spec, `--${name}`, eq < 0 ? undefined : t.slice(eq + 1), tok.column + eq + 1);
    } else if (t.startsWith("-") && t.length > 1) {
      // A cluster of short options; the first one that takes a value takes the rest of the word.
      for (let c = 1; c < t.length; c++) {
        const letter = t[c] as string;
        const spec = BY_SHORT.get(letter);
        // The first option of a word is placed at its dash, the others at their letter.
        const column = c === 1 ? tok.column : tok.column + c;
        if (!spec) {
          const why = NOT_RULES[letter];
          throw new LineError(column, `-${letter}`, why ? `-${letter} ${why}, it is not a rule` : `unknown option "-${letter}"`);
        }
        if (spec.arg === "none") {
          given.push({ spec, spelled: `-${letter}`, value: undefined, column, valueColumn: column });
          continue;
        }
        take(spec, `-${letter}`, c + 1 < t.length ? t.slice(c + 1) : undefined, tok.column + c + 1);
        break;
      }
    } else positional.push(tok);
  }
  return { given, positional };
}

// ---------------------------------------------------------------------------------------------------
// 3. Values

const byColumn = (a: Given, b: Given) => a.column - b.column;

function wholeNumber(g: Given, min: number, max: number, what: string): number {
  const text = g.value ?? "";
  if (!/^[+-]?\d+$/.test(text)) throw new LineError(g.valueColumn, g.spelled, `${what} "${text}" is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new LineError(g.valueColumn, g.spelled, `${what} ${text} is out of range (${min}..${max})`);
  return n;
}

interface Endpoint {
  family: 4 | 6;
  address: string;
  port: number | undefined;
}

/** parse_service(): "a.b.c.d[:port]", "[v6][:port]" or a bare IPv6 address (then without a port). */
function endpoint(g: Given, what: string): Endpoint {
  const text = g.value ?? "";
  const bad = (why: string): never => {
    throw new LineError(g.valueColumn, g.spelled, `${what} "${text}": ${why}`);
  };
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) bad("missing ]");
    host = text.slice(1, close);
    // parse_service() wants ":port" after "]"; a bare IPv6 address goes without brackets.
    const rest = text.slice(close + 1);
    if (!rest.startsWith(":")) bad("expected :port after ] (write a bare IPv6 address without brackets)");
    portText = rest.slice(1);
    if (canonicalIPv6(host) === null) bad(`"${host}" is not an IPv6 address`);
  } else if (canonicalIPv6(text) !== null) {
    host = text;
  } else {
    const colon = text.lastIndexOf(":");
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (parseIPv4(host) === null) {
      bad(/^[\d.]+$/.test(host) ? `"${host}" is not an IPv4 address` : `"${host}" is not a numeric address (host names are not resolved)`);
    }
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d+$/.test(portText)) bad(`port "${portText}" is not a number (service names are not resolved)`);
    port = Number(portText);
    if (port > 65535) bad(`port ${portText} is out of range (0..65535)`);
  }
  const v6 = canonicalIPv6(host);
  return v6 !== null
    ? { family: 6, address: v6, port }
    : { family: 4, address: formatIPv4(parseIPv4(host) as number), port };
}

function serviceKey(get: (id: string) => Given | undefined): ServiceKey | undefined {
  const svc = SERVICE_OPTIONS.map(get).filter((g): g is Given => g !== undefined).sort(byColumn);
  const six = get("6");
  if (svc.length > 1) {
    const [a, b] = svc as [Given, Given];
    throw new LineError(b.column, b.spelled, `one virtual service per line: ${a.spelled} and ${b.spelled} both given`);
  }
  const g = svc[0];
  if (!g) {
    if (six) throw new LineError(six.column, six.spelled, "-6 goes with a fwmark service (-f)");
    return undefined;
  }
  if (g.spec.id === "f") {
    const text = g.value ?? "";
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 4294967295) {
      throw new LineError(g.valueColumn, g.spelled, `fwmark "${text}" must be a whole number from 1 to 4294967295`);
    }
    return { kind: "fwmark", fwmark: Number(text), family: six ? 6 : 4 };
  }
  if (six) throw new LineError(six.column, six.spelled, "-6 goes with a fwmark service (-f); an IPv6 address says it already");
  const e = endpoint(g, "virtual service");
  const protocol = g.spec.id === "t" ? "TCP" : g.spec.id === "u" ? "UDP" : "SCTP";
  return { kind: "address", protocol, family: e.family, address: e.address, port: e.port ?? 0 };
}

function serviceSettings(get: (id: string) => Given | undefined, key: ServiceKey): ServiceSettings {
  const s = get("s");
  const scheduler = s?.value ?? DEFAULT_SCHEDULER;
  if (s && !(SCHEDULERS as readonly string[]).includes(scheduler)) {
    throw new LineError(s.valueColumn, s.spelled, `unknown scheduler "${scheduler}" (known: ${SCHEDULERS.join(" ")})`);
  }
  const settings: ServiceSettings = { scheduler, schedFlags: [], onePacket: get("o") !== undefined };

  const b = get("b");
  if (b) {
    // parse_sched_flags(): flag-1..3 for any scheduler, sh-*/mh-* only with their scheduler.
    const names = SCHED_FLAG_NAMES[scheduler] ?? GENERIC_SCHED_FLAG_NAMES;
    const bits = new Set<number>();
    for (const flag of (b.value ?? "").split(",")) {
      const generic = (GENERIC_SCHED_FLAG_NAMES as readonly string[]).indexOf(flag);
      const own = names.indexOf(flag);
      const other = Object.entries(SCHED_FLAG_NAMES).find(([, n]) => n.slice(0, 2).includes(flag));
      if (generic >= 0) bits.add(generic);
      else if (own >= 0) bits.add(own);
      else if (other) throw new LineError(b.valueColumn, b.spelled, `scheduler flag "${flag}" is for the ${other[0]} scheduler, not ${scheduler}`);
      else throw new LineError(b.valueColumn, b.spelled, `unknown scheduler flag "${flag}" (known: ${[...new Set([...names, ...GENERIC_SCHED_FLAG_NAMES])].join(" ")})`);
    }
    settings.schedFlags = [...bits].sort().map((bit) => names[bit] as string);
  }

  const p = get("p");
  const M = get("M");
  if (M && !p) throw new LineError(M.column, M.spelled, "a netmask (-M) only applies to a persistent service (-p)");
  if (p) {
    const timeout = p.value === undefined ? DEFAULT_PERSISTENT_TIMEOUT : wholeNumber(p, 1, MAX_TIMEOUT, "persistence timeout");
    settings.persistent = { timeout, netmask: netmask(M, key) };
  }
  const pe = get("pe");
  if (pe) {
    if (!(PERSISTENCE_ENGINES as readonly string[]).includes(pe.value ?? "")) {
      throw new LineError(pe.valueColumn, pe.spelled, `unknown persistence engine "${pe.value}" (known: ${PERSISTENCE_ENGINES.join(" ")})`);
    }
    settings.persistenceEngine = pe.value;
  }
  return settings;
}

/** -M: a dotted mask for IPv4, a prefix length 1..128 for IPv6; the all-ones default otherwise. */
function netmask(M: Given | undefined, key: ServiceKey): string {
  if (key.family === 6) {
    if (!M) return "128";
    const text = M.value ?? "";
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 128) {
      throw new LineError(M.valueColumn, M.spelled, `IPv6 netmask "${text}" must be a prefix length from 1 to 128`);
    }
    return String(Number(text));
  }
  if (!M) return "255.255.255.255";
  const n = parseIPv4(M.value ?? "");
  if (n === null) throw new LineError(M.valueColumn, M.spelled, `netmask "${M.value}" is not a dotted IPv4 mask like 255.255.255.0`);
  return formatIPv4(n);
}

function realServer(get: (id: string) => Given | undefined, key: ServiceKey): RealServer {
  const r = get("r") as Given;
  const e = endpoint(r, "real server");
  const fwd = ["g", "m", "i"].map(get).filter((g): g is Given => g !== undefined).sort(byColumn);
  if (fwd.length > 1) {
    const [a, b] = fwd as [Given, Given];
    throw new LineError(b.column, b.spelled, `one forwarding method per real server: ${a.spelled} and ${b.spelled} both given`);
  }
  const forward = fwd[0]?.spec.id === "m" ? "masquerading" : fwd[0]?.spec.id === "i" ? "ipip" : "gatewaying";
  const servicePort = key.kind === "address" ? key.port : 0;
  // process_options(): without a port the service's; DR and tunnels always use the service's port.
  const port = key.kind === "address" && forward !== "masquerading" ? servicePort : (e.port ?? servicePort);
  if (e.family !== key.family && forward !== "ipip") {
    throw new LineError(r.valueColumn, r.spelled, `real server ${e.address} is IPv${e.family} and the service IPv${key.family}: only tunnelling (-i) crosses families`);
  }
  const w = get("w");
  const x = get("x");
  const y = get("y");
  const server: RealServer = {
    family: e.family,
    address: e.address,
    port,
    forward,
    weight: w ? wholeNumber(w, 0, WEIGHT_MAX, "weight") : 1,
    upperThreshold: x ? wholeNumber(x, 0, THRESHOLD_MAX, "upper threshold") : 0,
    lowerThreshold: y ? wholeNumber(y, 0, THRESHOLD_MAX, "lower threshold") : 0,
  };
  if (server.upperThreshold > 0 && server.lowerThreshold > server.upperThreshold && y) {
    throw new LineError(y.column, y.spelled, `lower threshold ${server.lowerThreshold} is above the upper threshold ${server.upperThreshold}`);
  }

  // tunnel_opt_check(): ipip takes no tunnel option, gue needs --tun-port, gre has no port nor remcsum.
  const tunnelOptions = ["tun-type", "tun-port", "tun-nocsum", "tun-csum", "tun-remcsum"].map(get).filter((g): g is Given => g !== undefined).sort(byColumn);
  if (forward !== "ipip") {
    const first = tunnelOptions[0];
    if (first) throw new LineError(first.column, first.spelled, `${first.spelled} is a tunnel option: it needs -i (ipip forwarding)`);
    return server;
  }
  const tt = get("tun-type");
  const type = (tt?.value ?? "ipip") as TunnelType;
  if (tt && !["ipip", "gue", "gre"].includes(type)) throw new LineError(tt.valueColumn, tt.spelled, `unknown tunnel type "${tt.value}" (known: ipip gue gre)`);
  const sums = (["tun-nocsum", "tun-csum", "tun-remcsum"] as const).map(get).filter((g): g is Given => g !== undefined).sort(byColumn);
  if (sums.length > 1) {
    const [a, b] = sums as [Given, Given];
    throw new LineError(b.column, b.spelled, `${a.spelled} and ${b.spelled} contradict each other`);
  }
  const sum = sums[0];
  const tp = get("tun-port");
  if (type === "ipip" && (tp || sum)) {
    const g = (tp ?? sum) as Given;
    throw new LineError(g.column, g.spelled, `${g.spelled} does not apply to the ipip tunnel type`);
  }
  if (type === "gre" && tp) throw new LineError(tp.column, tp.spelled, "--tun-port does not apply to the gre tunnel type");
  if (type === "gre" && sum?.spec.id === "tun-remcsum") throw new LineError(sum.column, sum.spelled, "--tun-remcsum does not apply to the gre tunnel type");
  if (type === "gue" && !tp) throw new LineError(tt?.column ?? 0, tt?.spelled, "the gue tunnel type needs --tun-port");
  server.tunnel = {
    type,
    port: tp ? wholeNumber(tp, 1, 65535, "tunnel port") : 0,
    checksum: (sum?.spec.id.slice(4) ?? "nocsum") as TunnelChecksum,
  };
  return server;
}

function daemonSettings(get: (id: string) => Given | undefined, state: "master" | "backup"): SyncDaemon {
  const ifc = get("mcast-interface");
  const daemon: SyncDaemon = { state, mcastInterface: ifc?.value ?? "eth0", syncId: 0 }; // DEF_MCAST_IFN
  if (ifc && !/^[^\s/:]{1,15}$/.test(daemon.mcastInterface)) {
    throw new LineError(ifc.valueColumn, ifc.spelled, `"${ifc.value}" is not an interface name (1..15 characters)`);
  }
  const id = get("syncid");
  if (id) daemon.syncId = wholeNumber(id, 0, 255, "sync id");
  const len = get("sync-maxlen");
  if (len) daemon.syncMaxLen = wholeNumber(len, 1, 65535 - 20 - 8, "sync message length");
  const port = get("mcast-port");
  if (port) daemon.mcastPort = wholeNumber(port, 1, 65535, "multicast port");
  const ttl = get("mcast-ttl");
  if (ttl) daemon.mcastTtl = wholeNumber(ttl, 1, 255, "multicast TTL");
  const group = get("mcast-group");
  if (group) {
    const text = group.value ?? "";
    const v4 = parseIPv4(text);
    const v6 = parseIPv6Groups(text);
    const multicast = v4 !== null ? v4 >>> 28 === 0xe : v6 !== null && (v6[0] as number) >>> 8 === 0xff;
    if (!multicast) throw new LineError(group.valueColumn, group.spelled, `"${text}" is not a multicast address`);
    daemon.mcastGroup = v4 !== null ? text : (canonicalIPv6(text) as string);
  }
  return daemon;
}

// ---------------------------------------------------------------------------------------------------
// 4. One line, then the file

function parseLine(tokens: Token[], line: number): RuleCommand | null {
  const { given, positional } = readOptions(tokens);
  const seen = new Map<string, Given>();
  for (const g of given) {
    const before = seen.get(g.spec.id);
    if (before) throw new LineError(g.column, g.spelled, `${g.spelled} given twice (also at column ${before.column})`);
    seen.set(g.spec.id, g);
  }
  const commands = given.filter((g) => g.spec.command);
  if (commands.length === 0) {
    throw new LineError(tokens[0]?.column ?? 0, undefined, "no command: a rule starts with -A, -E, -D, -a, -e, -d, -C, -Z, --set, --start-daemon or --stop-daemon");
  }
  if (commands.length > 1) {
    const [a, b] = commands as [Given, Given];
    throw new LineError(b.column, b.spelled, `one command per line: ${a.spelled} and ${b.spelled} both given`);
  }
  const cmdGiven = commands[0] as Given;
  const command = cmdGiven.spec.command as Command;
  const allowed = ALLOWED[command];
  for (const g of given) {
    if (g === cmdGiven || allowed.includes(g.spec.id)) continue;
    const kind = SERVER_SETTINGS.includes(g.spec.id) || g.spec.id === "r"
      ? "a real server option"
      : SERVICE_SETTINGS.includes(g.spec.id)
        ? "a virtual service option"
        : DAEMON_SETTINGS.includes(g.spec.id)
          ? "a sync daemon option"
          : "not for this command";
    throw new LineError(g.column, g.spelled, `${g.spelled} does not go with ${COMMAND_WORDS[command]} (it is ${kind})`);
  }
  if (command !== "set" && positional.length > 0) {
    const p = positional[0] as Token;
    throw new LineError(p.column, undefined, `unexpected word "${p.text}"`);
  }
  const get = (id: string) => seen.get(id);
  const needService = (): ServiceKey => {
    const key = serviceKey(get);
    if (!key) throw new LineError(cmdGiven.column, cmdGiven.spelled, `${COMMAND_WORDS[command]} needs a virtual service (-t, -u, --sctp-service or -f)`);
    return key;
  };

  switch (command) {
    case "A":
    case "E": {
      const key = needService();
      const settings = serviceSettings(get, key);
      // process_options(): port 0 only for persistent services; -o only for UDP (or fwmark).
      if (key.kind === "address" && key.port === 0 && !settings.persistent) {
        const g = SERVICE_OPTIONS.map(get).find((x) => x) as Given;
        throw new LineError(g.valueColumn, g.spelled, "port 0 (any port) is only allowed for a persistent service (-p)");
      }
      if (settings.onePacket && key.kind === "address" && key.protocol !== "UDP") {
        const o = get("o") as Given;
        throw new LineError(o.column, o.spelled, "one-packet scheduling (-o) is only for UDP and fwmark services");
      }
      return { line, op: command === "A" ? "add-service" : "edit-service", key, ...settings };
    }
    case "D":
      return { line, op: "delete-service", key: needService() };
    case "a":
    case "e":
    case "d": {
      const key = needService();
      const r = get("r");
      if (!r) throw new LineError(cmdGiven.column, cmdGiven.spelled, `${COMMAND_WORDS[command]} needs a real server (-r)`);
      if (command === "d") {
        const e = endpoint(r, "real server");
        return { line, op: "delete-server", key, family: e.family, address: e.address, port: e.port ?? (key.kind === "address" ? key.port : 0) };
      }
      return { line, op: command === "a" ? "add-server" : "edit-server", key, server: realServer(get, key) };
    }
    case "C":
      return { line, op: "clear" };
    case "Z": {
      const key = serviceKey(get);
      return key ? { line, op: "zero", key } : { line, op: "zero" };
    }
    case "set": {
      if (positional.length !== 3) {
        throw new LineError(cmdGiven.column, cmdGiven.spelled, `--set needs 3 timeouts (tcp tcpfin udp), got ${positional.length}`);
      }
      const [tcp, tcpFin, udp] = positional.map((p, i) => {
        const g: Given = { spec: cmdGiven.spec, spelled: "--set", value: p.text, column: p.column, valueColumn: p.column };
        return wholeNumber(g, 0, MAX_TIMEOUT, ["tcp timeout", "tcpfin timeout", "udp timeout"][i] as string);
      }) as [number, number, number];
      return { line, op: "set-timeouts", tcp, tcpFin, udp };
    }
    case "start-daemon":
    case "stop-daemon": {
      const state = cmdGiven.value;
      if (state !== "master" && state !== "backup") {
        throw new LineError(cmdGiven.valueColumn, cmdGiven.spelled, `${cmdGiven.spelled} wants master or backup, not "${state}"`);
      }
      if (command === "start-daemon") return { line, op: "start-daemon", daemon: daemonSettings(get, state) };
      const id = get("syncid");
      return id ? { line, op: "stop-daemon", state, syncId: wholeNumber(id, 0, 255, "sync id") } : { line, op: "stop-daemon", state };
    }
  }
}

export interface ParsedRules {
  commands: RuleCommand[];
  errors: RuleError[];
}

/** Reads a rules file. Lines with errors are left out of `commands` and listed in `errors`. */
export function parseIpvsadmRules(text: string): ParsedRules {
  const commands: RuleCommand[] = [];
  const errors: RuleError[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/\r$/, "");
    if (/^\s*(#|$)/.test(content)) return;
    const tokens = tokenize(content);
    if (typeof tokens === "string") {
      errors.push({ line, column: 0, message: tokens });
      return;
    }
    // ipvsadm -R accepts lines that start with the program's name.
    if (tokens[0]?.text === "ipvsadm") tokens.shift();
    if (tokens.length === 0) return;
    try {
      const command = parseLine(tokens, line);
      if (command) commands.push(command);
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      errors.push(e.option === undefined ? { line, column: e.column, message: e.message } : { line, column: e.column, option: e.option, message: e.message });
    }
  });
  return { commands, errors };
}
