// The one narrow seam between a generic netlink family's client (e.g. server/ipvs/netlink/client.ts) and the
// kernel: `request(cmd, attrs, flags) -> replies`.
//
//   IpvsClient ──GenlTransport──> GenlSocketTransport ──NetlinkConn──> native socket (linux.ts)
//                     │                     │                  └─────> recorded datagrams (tests)
//                     └── fakeGenlTransport(fn): a function from request to replies (client unit tests)
//
// GenlSocketTransport holds the protocol: family resolution through the controller (again after an ENOENT,
// in case the module was reloaded), sequence numbers, multipart dumps until NLMSG_DONE, NLMSG_ERROR -> errno,
// NLM_F_DUMP_INTR -> the whole dump again (bounded), a timeout on every read, one request on the wire at
// a time over one reused connection. It never imports
// the native `netlink` package, so the same code runs over recorded kernel datagrams in unit tests.
import { AttrCursor, AttrEncoder, HOST_LITTLE_ENDIAN, align4 } from "./attrs";
import {
  CTRL_ATTR_FAMILY_ID,
  CTRL_ATTR_FAMILY_NAME,
  CTRL_CMD_GETFAMILY,
  CTRL_VERSION,
  GENL_HDRLEN,
  GENL_ID_CTRL,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_HDRLEN,
  encodeGenlMsg,
  nlHeaderProblem,
  parseDone,
  parseNlError,
  type NlMsg,
} from "./wire";

/** One reply message of the family: the generic netlink header's cmd and version, and the attribute stream
 *  after that header (a view into the received datagram). */
export interface GenlReply {
  cmd: number;
  version: number;
  attrs: Uint8Array;
}

export interface GenlRequestFlags {
  /** NLM_F_DUMP: the kernel's dumpit; replies until NLMSG_DONE. Otherwise a doit with NLM_F_ACK. */
  dump?: boolean;
}

export interface GenlTransport {
  /** Sends `cmd` with `attrs` (an attribute stream, see AttrEncoder) to the family and resolves with its
   *  reply messages: none for a command acknowledged without data, one for a get, any number for a dump.
   *  Rejects with GenlError. */
  request(cmd: number, attrs: Uint8Array, flags?: GenlRequestFlags): Promise<GenlReply[]>;
  close(): void;
  /** How many requests it can have on the wire at once (a pool's size); 1 when absent. */
  readonly parallelism?: number;
  /** Runs many dumps of one command (a snapshot's GET_DEST per service) with less per-request work than as
   *  many request() calls: see DumpJobs. Optional: runDumps() falls back to request(). */
  dumpEach?(jobs: DumpJobs): Promise<void>;
}

/**
 * Many dumps of one command, taken by whoever runs them (a socket, each member of a pool) until none is left
 * (a runner may also take none, e.g. one not ready yet: runDumps then runs the rest through request()).
 * `done` gets each dump's replies once it completed cleanly: a dump flagged NLM_F_DUMP_INTR is run again and its
 * partial replies are never handed over. `done` may throw: that fails the whole run.
 */
export interface DumpJobs {
  readonly cmd: number;
  readonly requests: readonly Uint8Array[];
  /** The next request's index, or -1 when none is left (or the run failed). */
  take(): number;
  done(index: number, replies: GenlReply[]): void;
  /** Optional, for a consumer that decodes replies in place: a runner that has them in one buffer (the native
   *  engine) may call this instead of `done`, with no GenlReply or view made per reply. See DumpSpans. */
  doneSpans?(index: number, spans: DumpSpans): void;
}

/**
 * One request's replies as spans of one buffer: reply k (first <= k < first + count) is the genetlink message
 * whose genlmsghdr starts at `messages[2k]` in `data`, `messages[2k + 1]` bytes long with its attributes. The
 * runner has checked every span (inside `data`, at least a genlmsghdr long) before handing it over; the
 * attribute stream of reply k is data[messages[2k] + GENL_HDRLEN, messages[2k] + messages[2k + 1]).
 */
export interface DumpSpans {
  readonly data: Uint8Array;
  readonly messages: Int32Array;
  readonly first: number;
  readonly count: number;
}

/**
 * Runs one dump of `cmd` per attribute stream in `requests` over `transport` (its dumpEach, else request() with
 * two dumps per unit of parallelism in flight), calling `done(index, replies)` for each as it completes, in
 * any order. Rejects with the first failure, after which no further dump is started.
 */
export async function runDumps(
  transport: GenlTransport,
  cmd: number,
  requests: readonly Uint8Array[],
  done: (index: number, replies: GenlReply[]) => void,
  /** Optional: the same in place, for a runner that offers it (DumpJobs.doneSpans). */
  doneSpans?: (index: number, spans: DumpSpans) => void,
): Promise<void> {
  let next = 0;
  let failed = false;
  const jobs: DumpJobs = {
    cmd,
    requests,
    take: () => (failed || next >= requests.length ? -1 : next++),
    done,
  };
  if (doneSpans) jobs.doneSpans = doneSpans;
  const guard = async (p: Promise<void>) => {
    try {
      await p;
    } catch (e) {
      failed = true;
      throw e;
    }
  };
  // A transport may leave jobs untaken (a worker thread still starting declines them): those run below.
  if (transport.dumpEach) await guard(transport.dumpEach(jobs));
  const worker = async () => {
    for (let i = jobs.take(); i >= 0; i = jobs.take()) done(i, await transport.request(cmd, requests[i]!, { dump: true }));
  };
  const width = Math.min(2 * Math.max(1, transport.parallelism ?? 1), requests.length);
  await Promise.all(Array.from({ length: width }, () => guard(worker())));
}

export type GenlErrorKind =
  | "family-missing" // the controller does not know the family (module not loaded)
  | "permission" // EPERM/EACCES: the family's ops need CAP_NET_ADMIN
  | "errno" // the kernel answered with another errno
  | "timeout"
  | "interrupted" // NLM_F_DUMP_INTR on every attempt
  | "protocol" // a reply that does not parse
  | "closed"
  | "socket"; // the socket itself failed (send or receive errno)

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV",
  22: "EINVAL", 34: "ERANGE", 92: "ENOPROTOOPT", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 105: "ENOBUFS",
};

/** The errno's symbolic name (EINVAL), or "errno N" for one outside the short list. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

export class GenlError extends Error {
  override name = "GenlError";
  constructor(
    readonly kind: GenlErrorKind,
    message: string,
    /** The family command the request carried (absent for the controller lookup). */
    readonly cmd?: number,
    /** Positive errno for kind "errno"/"permission"/"family-missing"/"socket". */
    readonly errno?: number,
    /** The kernel's extended-ack message, when it sent one. */
    readonly extack?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get code(): string | undefined {
    return this.errno === undefined ? undefined : errnoName(this.errno);
  }
}

/** A datagram socket to the kernel's NETLINK_GENERIC, or a stand-in that replays recorded datagrams. */
export interface NetlinkConn {
  /** Our netlink port id (nlmsg_pid of our requests). */
  readonly portId: number;
  send(datagram: Uint8Array): Promise<void>;
  /** The next received datagram; rejects with GenlError("timeout") after `timeoutMs`. */
  receive(timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}

export interface GenlSocketOptions {
  /** The family's name as registered with the controller, e.g. "IPVS". */
  family: string;
  /** The genlmsghdr version to send (IPVS_GENL_VERSION). */
  version: number;
  /** The longest wait for the kernel's next datagram (every read has it; a long dump may take longer in
   *  all). Default 10 s. */
  timeoutMs?: number;
  /** How many times a dump flagged NLM_F_DUMP_INTR is started again before giving up. Default 3. */
  maxDumpRetries?: number;
  /** The first sequence number (default: seconds since the epoch, as libnl does). */
  firstSeq?: number;
}

export class GenlSocketTransport implements GenlTransport {
  private familyId: number | undefined;
  private seq: number;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly timeoutMs: number;
  private readonly maxDumpRetries: number;

  constructor(
    private readonly conn: NetlinkConn,
    private readonly opts: GenlSocketOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxDumpRetries = opts.maxDumpRetries ?? 3;
    this.seq = (opts.firstSeq ?? Math.floor(Date.now() / 1000)) >>> 0;
  }

  request(cmd: number, attrs: Uint8Array, flags: GenlRequestFlags = {}): Promise<GenlReply[]> {
    // One request on the wire at a time: replies are matched by sequence number, and a serial queue keeps a
    // dump's datagrams from interleaving with another request's.
    const run = this.queue.then(() => this.requestNow(cmd, attrs, flags.dump === true));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close();
  }

  /** Takes dumps from `jobs` until none is left, one at a time over this socket (behind any request already
   *  queued), without the per-request promise chain of request(). */
  dumpEach(jobs: DumpJobs): Promise<void> {
    const run = this.queue.then(async () => {
      for (let i = jobs.take(); i >= 0; i = jobs.take()) jobs.done(i, await this.requestNow(jobs.cmd, jobs.requests[i]!, true));
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves (once) the family's id through the controller's CTRL_CMD_GETFAMILY. */
  async resolveFamily(): Promise<number> {
    if (this.familyId !== undefined) return this.familyId;
    const attrs = new AttrEncoder().string(CTRL_ATTR_FAMILY_NAME, this.opts.family).finish();
    let replies: GenlReply[];
    try {
      ({ replies } = await this.exchange(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_VERSION, attrs, false));
    } catch (e) {
      if (e instanceof GenlError && e.kind === "errno" && e.errno === 2 /* ENOENT */) {
        throw new GenlError("family-missing", `generic netlink family "${this.opts.family}" is not registered in this kernel`, undefined, e.errno, e.extack, { cause: e });
      }
      throw e;
    }
    for (const r of replies) {
      const c = new AttrCursor(r.attrs, "CTRL_CMD_GETFAMILY");
      while (c.next()) if (c.type === CTRL_ATTR_FAMILY_ID) this.familyId = c.u16();
      if (c.problem) throw new GenlError("protocol", `controller reply: ${c.problem.message} at ${c.problem.path}`);
    }
    if (this.familyId === undefined) throw new GenlError("protocol", `controller reply for "${this.opts.family}" has no family id`);
    return this.familyId;
  }

  private async requestNow(cmd: number, attrs: Uint8Array, dump: boolean): Promise<GenlReply[]> {
    if (this.closed) throw new GenlError("closed", "generic netlink transport is closed", cmd);
    const family = this.familyId ?? (await this.resolveFamily());
    try {
      return await this.requestFamily(family, cmd, attrs, dump);
    } catch (e) {
      // The kernel answers ENOENT for a family id it no longer has (the module was unloaded, or reloaded under
      // another id) as well as for the family's own reasons: look the family up again to tell them apart.
      if (!(e instanceof GenlError && e.kind === "errno" && e.errno === 2)) throw e;
      this.familyId = undefined;
      const now = await this.resolveFamily();
      if (now === family) throw e;
      return this.requestFamily(now, cmd, attrs, dump);
    }
  }

  private async requestFamily(family: number, cmd: number, attrs: Uint8Array, dump: boolean): Promise<GenlReply[]> {
    for (let attempt = 0; ; attempt++) {
      const { replies, interrupted } = await this.exchange(family, cmd, this.opts.version, attrs, dump);
      if (!interrupted) return replies;
      if (attempt >= this.maxDumpRetries) {
        throw new GenlError("interrupted", `the kernel's table kept changing during the dump (${attempt + 1} attempts)`, cmd);
      }
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Sends one request and collects its replies: until the ACK (NLMSG_ERROR 0) for a doit, NLMSG_DONE for a
   *  dump. Datagrams with another sequence number (late replies to a request that timed out) are skipped. */
  private async exchange(type: number, cmd: number, version: number, attrs: Uint8Array, dump: boolean): Promise<{ replies: GenlReply[]; interrupted: boolean }> {
    const seq = this.nextSeq();
    const flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK);
    const msg = encodeGenlMsg({ type, flags, seq, pid: this.conn.portId }, cmd, version, attrs);
    const errCmd = type === GENL_ID_CTRL ? undefined : cmd;
    try {
      await this.conn.send(msg);
    } catch (e) {
      throw asSocketError(e, errCmd);
    }
    const replies: GenlReply[] = [];
    let interrupted = false;
    for (;;) {
      // The timeout bounds each wait for the kernel, not the whole dump: a dump of 10,000 services with their
      // counters is hundreds of datagrams, which an emulated, loaded machine takes longer than 10 s to read.
      const left = this.timeoutMs;
      let datagram: Uint8Array;
      try {
        datagram = await this.conn.receive(left);
      } catch (e) {
        if (e instanceof GenlError && e.kind === "timeout") throw timeoutError(this.timeoutMs, errCmd);
        throw asSocketError(e, errCmd);
      }
      // The headers are read in place (splitDatagram's checks, without an object per message): a snapshot
      // reads two datagrams per service.
      const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
      for (let at = 0; at < datagram.length; ) {
        const problem = nlHeaderProblem(view, at);
        if (problem) throw new GenlError("protocol", `malformed reply datagram: ${problem}`, errCmd);
        const len = view.getUint32(at, HOST_LITTLE_ENDIAN);
        const mType = view.getUint16(at + 4, HOST_LITTLE_ENDIAN);
        const mFlags = view.getUint16(at + 6, HOST_LITTLE_ENDIAN);
        const mSeq = view.getUint32(at + 8, HOST_LITTLE_ENDIAN);
        const start = at + NLMSG_HDRLEN;
        const end = at + len;
        at = Math.min(align4(end), datagram.length);
        if (mSeq !== seq) continue;
        if (mFlags & NLM_F_DUMP_INTR) interrupted = true;
        switch (mType) {
          case NLMSG_NOOP:
            continue;
          case NLMSG_OVERRUN:
            throw new GenlError("protocol", "the kernel reported a netlink overrun", errCmd);
          case NLMSG_ERROR: {
            const e = parseNlError(messageAt(view, datagram, start - NLMSG_HDRLEN, end));
            if ("problem" in e) throw new GenlError("protocol", e.problem, errCmd);
            if (e.errno === 0) return { replies, interrupted };
            throw errnoError(e.errno, errCmd, e.message);
          }
          case NLMSG_DONE: {
            const errno = parseDone(messageAt(view, datagram, start - NLMSG_HDRLEN, end));
            if (errno > 0) throw errnoError(errno, errCmd);
            return { replies, interrupted };
          }
          default: {
            if (mType !== type) throw new GenlError("protocol", `reply of message type ${mType}, expected ${type}`, errCmd);
            if (end - start < GENL_HDRLEN) throw new GenlError("protocol", `reply of ${end - start} bytes has no genetlink header`, errCmd);
            replies.push({ cmd: datagram[start]!, version: datagram[start + 1]!, attrs: datagram.subarray(start + GENL_HDRLEN, end) });
          }
        }
      }
    }
  }
}

/** The message whose header starts at `at` (for the rare NLMSG_ERROR / NLMSG_DONE: their parsers take one). */
function messageAt(view: DataView, datagram: Uint8Array, at: number, end: number): NlMsg {
  return {
    type: view.getUint16(at + 4, HOST_LITTLE_ENDIAN),
    flags: view.getUint16(at + 6, HOST_LITTLE_ENDIAN),
    seq: view.getUint32(at + 8, HOST_LITTLE_ENDIAN),
    pid: view.getUint32(at + 12, HOST_LITTLE_ENDIAN),
    payload: datagram.subarray(at + NLMSG_HDRLEN, end),
  };
}

export function timeoutError(ms: number, cmd: number | undefined): GenlError {
  return new GenlError("timeout", `the kernel sent nothing for ${ms} ms`, cmd);
}

export function errnoError(errno: number, cmd: number | undefined, extack?: string): GenlError {
  if (errno === 1 || errno === 13) {
    return new GenlError("permission", "permission denied: run as root or grant CAP_NET_ADMIN", cmd, errno, extack);
  }
  const detail = extack ? `: ${extack}` : "";
  return new GenlError("errno", `the kernel rejected the request (${errnoName(errno)})${detail}`, cmd, errno, extack);
}

function asSocketError(e: unknown, cmd: number | undefined): GenlError {
  if (e instanceof GenlError) return e;
  const errno = typeof (e as { errno?: unknown })?.errno === "number" ? Math.abs((e as { errno: number }).errno) : undefined;
  if (errno === 1 || errno === 13) return errnoError(errno, cmd);
  const text = e instanceof Error ? e.message : String(e);
  return new GenlError("socket", `netlink socket failed: ${text}`, cmd, errno, undefined, { cause: e });
}

/**
 * Spreads requests over several transports (one socket each). A netlink socket runs one dump at a time, so a
 * caller that overlaps many small dumps (IpvsClient.snapshot: one GET_DEST dump per service) needs a socket
 * per dump in flight; with two, both sockets' replies are read in the same turn of the event loop. Each
 * request goes to the member with the fewest requests in flight.
 */
export class GenlTransportPool implements GenlTransport {
  private readonly inFlight: number[];
  readonly parallelism: number;

  constructor(private readonly members: GenlTransport[]) {
    if (members.length === 0) throw new RangeError("a transport pool needs at least one member");
    this.inFlight = members.map(() => 0);
    this.parallelism = members.length;
  }

  async request(cmd: number, attrs: Uint8Array, flags?: GenlRequestFlags): Promise<GenlReply[]> {
    let pick = 0;
    for (let i = 1; i < this.members.length; i++) if (this.inFlight[i]! < this.inFlight[pick]!) pick = i;
    this.inFlight[pick]!++;
    try {
      return await this.members[pick]!.request(cmd, attrs, flags);
    } finally {
      this.inFlight[pick]!--;
    }
  }

  /** Every member takes dumps from the same jobs, so a slow socket takes fewer. */
  async dumpEach(jobs: DumpJobs): Promise<void> {
    await Promise.all(this.members.map((m) => (m.dumpEach ? m.dumpEach(jobs) : runDumpsByRequest(m, jobs))));
  }

  close(): void {
    for (const m of this.members) m.close();
  }
}

/** A member without dumpEach: its dumps through request(), two in flight. */
async function runDumpsByRequest(m: GenlTransport, jobs: DumpJobs): Promise<void> {
  const worker = async () => {
    for (let i = jobs.take(); i >= 0; i = jobs.take()) jobs.done(i, await m.request(jobs.cmd, jobs.requests[i]!, { dump: true }));
  };
  await Promise.all([worker(), worker()]);
}

/** A request as a fake transport sees it. */
export interface GenlFakeRequest {
  cmd: number;
  attrs: Uint8Array;
  dump: boolean;
}

/**
 * A transport that answers with a function, in the manner of mdlayher/netlink's nltest: the function returns
 * the replies (or throws a GenlError, e.g. `new GenlError("errno", "...", cmd, 17)` for EEXIST). Every request
 * is also kept in `requests`, so a test can check what was sent.
 */
export function fakeGenlTransport(answer: (req: GenlFakeRequest) => GenlReply[]): GenlTransport & { requests: GenlFakeRequest[] } {
  const requests: GenlFakeRequest[] = [];
  return {
    requests,
    async request(cmd, attrs, flags = {}) {
      const req = { cmd, attrs: attrs.slice(), dump: flags.dump === true };
      requests.push(req);
      return answer(req);
    },
    close() {},
  };
}
