// IpvsClient: every command of the kernel's "IPVS" generic netlink family, over one GenlTransport.
//
//   const ipvs = openIpvsClient();       // server/kernel/genl/ipvs.ts; or new IpvsClient(fakeGenlTransport(...))
//   await ipvs.newService({ service: { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 },
//                           scheduler: "wlc" });
//   const table = await ipvs.snapshot(); // one service dump + one dest dump per service
//
// Every failure is an IpvsError with a `kind` a caller can switch on and a message an administrator can act
// on; the kernel's errno stays a field (`errno`, `code`), never part of the message. The errno meanings are
// ip_vs_ctl.c's: EEXIST from NEW_SERVICE/NEW_DEST (ip_vs_genl_set_cmd, ip_vs_add_dest), ESRCH for a missing
// service (the set and get commands), ENOENT for a missing destination (ip_vs_edit_dest/ip_vs_del_dest) and
// for a scheduler or persistence engine module that cannot be loaded (ip_vs_add_service/ip_vs_edit_service),
// ERANGE for a negative weight (a u32 above INT_MAX) or a lower threshold above the upper (ip_vs_add_dest and
// ip_vs_edit_dest), EEXIST/ESRCH for a sync daemon already running / not running (start/stop_sync_thread).
import { AttrCursor, AttrEncoder, type DecodeProblem } from "@/server/kernel/genl/attrs";
import { GenlError, runDumps, type DumpSpans, type GenlReply, type GenlTransport } from "@/server/kernel/genl/transport";
import { GENL_HDRLEN } from "@/server/kernel/genl/wire";
import {
  EncodeError,
  decodeDaemon,
  decodeDest,
  decodeInfo,
  decodeNest,
  decodeNestIn,
  decodeService,
  decodeTimeouts,
  destConfigAttrs,
  encodeDaemon,
  encodeDest,
  encodeService,
  encodeTimeouts,
  serviceConfigAttrs,
  serviceKeyFromReply,
  type Decoded,
} from "./codec";
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_DAEMON_ATTR, IPVS_DEST_ATTR, IPVS_SVC_ATTR, attrName, type AttrTable, type IpvsCommand } from "./constants";
import {
  isFwmarkService,
  type Destination,
  type DestinationConfig,
  type IpvsInfo,
  type Service,
  type ServiceConfig,
  type ServiceExtended,
  type ServiceWithDestinations,
  type SyncDaemon,
  type SyncDaemonConfig,
  type SyncState,
  type Timeouts,
} from "./types";

export type IpvsErrorKind =
  | "not-loaded" // the IPVS family is not registered: ip_vs module not loaded
  | "unsupported" // this kernel's IPVS lacks the command (EOPNOTSUPP/ENOPROTOOPT)
  | "permission"
  | "exists"
  | "not-found"
  | "scheduler-missing"
  | "daemon-running"
  | "daemon-stopped"
  | "no-device"
  | "out-of-range"
  | "invalid"
  | "timeout"
  | "protocol" // a reply this code cannot decode
  | "kernel"; // any other errno

export class IpvsError extends Error {
  override name = "IpvsError";
  constructor(
    readonly kind: IpvsErrorKind,
    message: string,
    readonly op: IpvsCommand,
    readonly details: { errno?: number; code?: string; problem?: DecodeProblem; sent?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get errno(): number | undefined {
    return this.details.errno;
  }

  get code(): string | undefined {
    return this.details.code;
  }
}

/** "TCP 192.0.2.1:80", "UDP [::ffff:192.0.2.1]:53", "FWM 42 (IPv6)": a service as ipvsadm -Ln names it. */
export function describeService(s: Service): string {
  if (isFwmarkService(s)) return `FWM ${s.fwmark}${s.family === "inet6" ? " (IPv6)" : ""}`;
  return `${s.protocol.toUpperCase()} ${hostPort(s.family, s.address, s.port)}`;
}

function hostPort(family: string, address: string, port: number): string {
  return family === "inet6" ? `[${address}]:${port}` : `${address}:${port}`;
}

function describeDest(d: { address: string; port: number; family?: string }): string {
  return hostPort(d.family ?? (d.address.includes(":") ? "inet6" : "inet"), d.address, d.port);
}

/** What was being done, for messages: the service and destination involved. */
interface Subject {
  service?: Service;
  dest?: { address: string; port: number; family?: string };
  scheduler?: string;
  persistenceEngine?: string;
  daemon?: SyncState;
  mcastInterface?: string;
}

/** A service of the snapshot, its destinations to come: one literal (a spread plus a property would take V8's
 *  slow path for each of the table's services). */
function withDestinations(s: ServiceExtended): ServiceWithDestinations {
  const { service, scheduler, persistenceEngine, flags, timeout, stats, unknown } = s;
  return persistenceEngine === undefined
    ? { service, scheduler, flags, timeout, stats, unknown, destinations: [] }
    : { service, scheduler, persistenceEngine, flags, timeout, stats, unknown, destinations: [] };
}

const decodeDestInet = (c: AttrCursor) => decodeDest(c, "inet");
const decodeDestInet6 = (c: AttrCursor) => decodeDest(c, "inet6");

export class IpvsClient {
  constructor(private readonly transport: GenlTransport) {}

  close(): void {
    this.transport.close();
  }

  // ---- information and configuration ------------------------------------------------------------------

  async getInfo(): Promise<IpvsInfo> {
    const [r] = await this.call("GET_INFO", new Uint8Array(), {}, false, 1);
    return this.decoded("GET_INFO", decodeInfo(new AttrCursor(r!.attrs)));
  }

  async getConfig(): Promise<Timeouts> {
    const [r] = await this.call("GET_CONFIG", new Uint8Array(), {}, false, 1);
    return this.decoded("GET_CONFIG", decodeTimeouts(new AttrCursor(r!.attrs)));
  }

  /** Sets the given timeouts (seconds); the others keep their values (ip_vs_genl_set_config). */
  async setConfig(t: Timeouts): Promise<void> {
    await this.call("SET_CONFIG", this.encode("SET_CONFIG", (e) => encodeTimeouts(e, t)), {});
  }

  // ---- services ---------------------------------------------------------------------------------------

  /** One GET_SERVICE dump: every service of this network namespace. */
  async listServices(): Promise<ServiceExtended[]> {
    const replies = await this.call("GET_SERVICE", new Uint8Array(), {}, true);
    return replies.map((r) => this.decoded("GET_SERVICE", decodeNest(r.attrs, IPVS_CMD_ATTR.SERVICE.id, decodeService)));
  }

  /** One service by its identity; IpvsError "not-found" if there is none. */
  async getService(service: Service): Promise<ServiceExtended> {
    const attrs = this.encode("GET_SERVICE", (e) => encodeService(e, { service }));
    const [r] = await this.call("GET_SERVICE", attrs, { service }, false, 1);
    return this.decoded("GET_SERVICE", decodeNest(r!.attrs, IPVS_CMD_ATTR.SERVICE.id, decodeService));
  }

  async newService(cfg: ServiceConfig): Promise<void> {
    await this.call("NEW_SERVICE", this.encode("NEW_SERVICE", (e) => encodeService(e, serviceConfigAttrs(cfg))), this.svcSubject(cfg));
  }

  /** Replaces the service's scheduler, flags, timeout, netmask and persistence engine. */
  async setService(cfg: ServiceConfig): Promise<void> {
    await this.call("SET_SERVICE", this.encode("SET_SERVICE", (e) => encodeService(e, serviceConfigAttrs(cfg))), this.svcSubject(cfg));
  }

  async delService(service: Service): Promise<void> {
    await this.call("DEL_SERVICE", this.encode("DEL_SERVICE", (e) => encodeService(e, { service })), { service });
  }

  // ---- destinations -----------------------------------------------------------------------------------

  /** One GET_DEST dump for the service. The kernel answers an empty dump for a service that does not exist
   *  (ip_vs_genl_dump_dests), so an empty list does not prove the service is there. */
  async listDestinations(service: Service): Promise<Destination[]> {
    const replies = await this.call("GET_DEST", this.encode("GET_DEST", (e) => encodeService(e, { service })), { service }, true);
    return replies.map((r) => this.decoded("GET_DEST", decodeNest(r.attrs, IPVS_CMD_ATTR.DEST.id, (c) => decodeDest(c, service.family))));
  }

  async newDest(service: Service, dest: DestinationConfig): Promise<void> {
    await this.destCall("NEW_DEST", service, dest, true);
  }

  async setDest(service: Service, dest: DestinationConfig): Promise<void> {
    await this.destCall("SET_DEST", service, dest, true);
  }

  async delDest(service: Service, dest: { address: string; port: number; family?: Service["family"] }): Promise<void> {
    await this.destCall("DEL_DEST", service, dest, false);
  }

  // ---- the whole table --------------------------------------------------------------------------------

  /** Every service with its destinations: one service dump, then one destination dump per service, spread
   *  over the transport's sockets (runDumps). The GET_DEST requests copy each service's identifying attributes
   *  from its reply. A service deleted between the two dumps shows with no destinations. Results keep the
   *  service dump's order; the first failure stops the rest. */
  async snapshot(): Promise<ServiceWithDestinations[]> {
    let replies: GenlReply[];
    try {
      replies = await this.transport.request(IPVS_CMD.GET_SERVICE.id, new Uint8Array(), { dump: true });
    } catch (e) {
      throw toIpvsError(e, "GET_SERVICE", {});
    }
    const out: ServiceWithDestinations[] = new Array(replies.length);
    const keys: Uint8Array[] = new Array(replies.length);
    let allKeys = true;
    for (let i = 0; i < replies.length && allKeys; i++) {
      const key = serviceKeyFromReply(replies[i]!.attrs);
      if (key) keys[i] = key;
      else allKeys = false;
    }
    const onDests = (i: number, dests: GenlReply[]) => {
      const svc = out[i]!;
      const decode = svc.service.family === "inet" ? decodeDestInet : decodeDestInet6;
      const list: Destination[] = new Array(dests.length);
      for (let k = 0; k < dests.length; k++) list[k] = this.decoded("GET_DEST", decodeNest(dests[k]!.attrs, IPVS_CMD_ATTR.DEST.id, decode));
      svc.destinations = list;
    };
    // The same, in place, from a runner that has the replies in one buffer (the native engine): no GenlReply
    // and no view per reply.
    const onDestSpans = (i: number, { data, messages, first, count }: DumpSpans) => {
      const svc = out[i]!;
      const decode = svc.service.family === "inet" ? decodeDestInet : decodeDestInet6;
      const list: Destination[] = new Array(count);
      for (let k = 0; k < count; k++) {
        const at = messages[2 * (first + k)]!;
        const end = at + messages[2 * (first + k) + 1]!;
        list[k] = this.decoded("GET_DEST", decodeNestIn(data, at + GENL_HDRLEN, end, IPVS_CMD_ATTR.DEST.id, decode));
      }
      svc.destinations = list;
    };
    // With every key copied from the replies, the GET_DEST dumps start before the services are decoded: a
    // transport with a thread of its own (the native engine) runs them meanwhile. Replies reach onDests only
    // after an await inside runDumps, so every out[i] is there by then.
    let dumps = allKeys ? runDumps(this.transport, IPVS_CMD.GET_DEST.id, keys, onDests, onDestSpans) : undefined;
    try {
      for (let i = 0; i < replies.length; i++) {
        const attrs = replies[i]!.attrs;
        const s = this.decoded("GET_SERVICE", decodeNest(attrs, IPVS_CMD_ATTR.SERVICE.id, decodeService));
        out[i] = withDestinations(s);
        if (!allKeys) keys[i] = serviceKeyFromReply(attrs) ?? this.encode("GET_DEST", (e) => encodeService(e, { service: s.service }));
      }
    } catch (e) {
      dumps?.catch(() => undefined); // the service decoding failed first: that is the error
      throw e;
    }
    try {
      await (dumps ??= runDumps(this.transport, IPVS_CMD.GET_DEST.id, keys, onDests, onDestSpans));
    } catch (e) {
      if (e instanceof IpvsError) throw e;
      throw toIpvsError(e, "GET_DEST", {});
    }
    return out;
  }

  /** Zeroes the counters of one service, or of every service and destination when none is given. */
  async zero(service?: Service): Promise<void> {
    const attrs = service ? this.encode("ZERO", (e) => encodeService(e, { service })) : new Uint8Array();
    await this.call("ZERO", attrs, { service });
  }

  /** Deletes every service (and so every destination) of this network namespace. */
  async flush(): Promise<void> {
    await this.call("FLUSH", new Uint8Array(), {});
  }

  // ---- sync daemons -----------------------------------------------------------------------------------

  async listDaemons(): Promise<SyncDaemon[]> {
    const replies = await this.call("GET_DAEMON", new Uint8Array(), {}, true);
    return replies.map((r) => this.decoded("GET_DAEMON", decodeNest(r.attrs, IPVS_CMD_ATTR.DAEMON.id, decodeDaemon)));
  }

  /** Starts a master or backup sync daemon (ipvsadm --start-daemon). */
  async newDaemon(d: SyncDaemonConfig): Promise<void> {
    const attrs = this.encode("NEW_DAEMON", (e) => encodeDaemon(e, d));
    await this.call("NEW_DAEMON", attrs, { daemon: d.state, mcastInterface: d.mcastInterface });
  }

  async delDaemon(state: SyncState): Promise<void> {
    await this.call("DEL_DAEMON", this.encode("DEL_DAEMON", (e) => encodeDaemon(e, { state })), { daemon: state });
  }

  // ---- plumbing ---------------------------------------------------------------------------------------

  private svcSubject(cfg: ServiceConfig): Subject {
    return { service: cfg.service, scheduler: cfg.scheduler, persistenceEngine: cfg.persistenceEngine };
  }

  private async destCall(op: "NEW_DEST" | "SET_DEST" | "DEL_DEST", service: Service, dest: DestinationConfig | { address: string; port: number; family?: Service["family"] }, full: boolean): Promise<void> {
    const attrs = this.encode(op, (e) => {
      encodeService(e, { service });
      if (full) encodeDest(e, destConfigAttrs(dest as DestinationConfig, service.family));
      else encodeDest(e, { address: dest.address, port: dest.port, family: dest.family, addressFamily: dest.family ?? service.family });
    });
    await this.call(op, attrs, { service, dest });
  }

  private encode(op: IpvsCommand, fill: (e: AttrEncoder) => void): Uint8Array {
    const e = new AttrEncoder();
    try {
      fill(e);
    } catch (err) {
      if (err instanceof EncodeError || err instanceof RangeError) {
        throw new IpvsError("invalid", `${IPVS_CMD[op].kernel} not sent: ${err.message}`, op, {}, { cause: err });
      }
      throw err;
    }
    return e.finish();
  }

  private decoded<T>(op: IpvsCommand, d: Decoded<T>): T {
    if (d.ok) return d.value;
    const p = d.problem;
    throw new IpvsError("protocol", `cannot decode the kernel's ${IPVS_CMD[op].kernel} reply: ${p.kind} at ${p.path || "top level"} (offset ${p.offset}): ${p.message}`, op, { problem: p });
  }

  private async call(op: IpvsCommand, attrs: Uint8Array, subject: Subject, dump = false, expect?: number): Promise<GenlReply[]> {
    let replies: GenlReply[];
    try {
      replies = await this.transport.request(IPVS_CMD[op].id, attrs, { dump });
    } catch (e) {
      throw toIpvsError(e, op, subject, attrs);
    }
    if (expect !== undefined && replies.length < expect) {
      throw new IpvsError("protocol", `the kernel acknowledged ${IPVS_CMD[op].kernel} without the expected reply`, op);
    }
    return replies;
  }
}

/** Maps a transport failure to an IpvsError with a message for the administrator. */
export function toIpvsError(e: unknown, op: IpvsCommand, s: Subject, sent?: Uint8Array): IpvsError {
  if (!(e instanceof GenlError)) return new IpvsError("kernel", `IPVS ${IPVS_CMD[op].kernel} failed unexpectedly`, op, {}, { cause: e });
  const base = { errno: e.errno, code: e.code };
  const err = (kind: IpvsErrorKind, message: string, extra: { sent?: string } = {}) => new IpvsError(kind, message, op, { ...base, ...extra }, { cause: e });
  const svc = s.service ? describeService(s.service) : "the service";
  const dest = s.dest ? describeDest(s.dest) : "the destination";
  switch (e.kind) {
    case "family-missing":
      return err("not-loaded", "IPVS is not loaded in this kernel: modprobe ip_vs");
    case "permission":
      return err("permission", "permission denied: run as root or grant CAP_NET_ADMIN");
    case "timeout":
      return err("timeout", `the kernel did not answer ${IPVS_CMD[op].kernel} in time`);
    case "interrupted":
    case "protocol":
    case "closed":
    case "socket":
      return err(e.kind === "socket" ? "kernel" : "protocol", `IPVS ${IPVS_CMD[op].kernel} failed: ${e.message}`);
    case "errno":
      break;
  }
  const isDestOp = op === "NEW_DEST" || op === "SET_DEST" || op === "DEL_DEST";
  const isDaemonOp = op === "NEW_DAEMON" || op === "DEL_DAEMON";
  switch (e.code) {
    case "EEXIST":
      if (isDaemonOp) return err("daemon-running", `the ${s.daemon ?? "requested"} sync daemon is already running`);
      if (isDestOp) return err("exists", `destination already exists: ${dest} in ${svc}`);
      return err("exists", `service already exists: ${svc}`);
    case "ESRCH":
      if (isDaemonOp) return err("daemon-stopped", `no ${s.daemon ?? "such"} sync daemon is running`);
      return err("not-found", `no such service: ${svc}`);
    case "ENOENT":
      if (op === "NEW_SERVICE" || op === "SET_SERVICE") {
        const pe = s.persistenceEngine ? ` or persistence engine module ip_vs_pe_${s.persistenceEngine}` : "";
        return err("scheduler-missing", `scheduler module ip_vs_${s.scheduler ?? "?"}${pe} not available`);
      }
      if (isDestOp) return err("not-found", `no such destination: ${dest} in ${svc}`);
      return err("not-found", `no such service: ${svc}`);
    case "ENODEV":
      return err("no-device", `no such network interface: ${s.mcastInterface ?? "?"}`);
    case "ERANGE":
      return err("out-of-range", `destination ${dest} rejected: weight must be 0..2147483647 and the lower threshold not above the upper`);
    case "EOPNOTSUPP":
    case "ENOPROTOOPT":
      return err("unsupported", `this kernel's IPVS does not support ${IPVS_CMD[op].kernel}`);
    case "EAFNOSUPPORT":
      return err("unsupported", `this kernel's IPVS does not support that address family (IPv6 needs CONFIG_IP_VS_IPV6)`);
    case "EINVAL": {
      const what = [s.service && svc, s.dest && `destination ${dest}`, s.scheduler && `scheduler ${s.scheduler}`, s.daemon && `${s.daemon} daemon on ${s.mcastInterface ?? "?"}`]
        .filter(Boolean)
        .join(", ");
      const sentText = sent ? describeSent(sent) : "";
      return err("invalid", `the kernel rejected ${IPVS_CMD[op].kernel} as invalid${what ? ` (${what})` : ""}${sentText ? `; sent ${sentText}` : ""}`, { sent: sentText });
    }
    default:
      return err("kernel", `the kernel refused ${IPVS_CMD[op].kernel}${s.service ? ` for ${svc}` : ""}`);
  }
}

/** A short account of an attribute stream, for "invalid" errors: the kernel's attribute names and sizes. */
function describeSent(attrs: Uint8Array): string {
  const nests: Record<number, [AttrTable, string]> = {
    [IPVS_CMD_ATTR.SERVICE.id]: [IPVS_SVC_ATTR, "IPVS_SVC_ATTR_"],
    [IPVS_CMD_ATTR.DEST.id]: [IPVS_DEST_ATTR, "IPVS_DEST_ATTR_"],
    [IPVS_CMD_ATTR.DAEMON.id]: [IPVS_DAEMON_ATTR, "IPVS_DAEMON_ATTR_"],
  };
  const parts: string[] = [];
  const top = new AttrCursor(attrs);
  while (top.next()) {
    const name = attrName(IPVS_CMD_ATTR, "IPVS_CMD_ATTR_", top.type);
    const nest = nests[top.type];
    if (!nest) {
      parts.push(`${name}(${top.length} bytes)`);
      continue;
    }
    const inner: string[] = [];
    const c = top.nested();
    while (c.next()) inner.push(`${attrName(nest[0], nest[1], c.type).slice(nest[1].length)}(${c.length})`);
    parts.push(`${name}{${inner.join(" ")}}`);
  }
  return parts.join(" ");
}
