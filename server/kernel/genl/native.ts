// Many generic netlink dumps at once through our own native addon (native/genl, README there), so a snapshot's
// GET_DEST dump per service costs no JavaScript per datagram:
//
//   IpvsClient.snapshot() ──runDumps──> NativeGenlTransport.dumpEach(jobs)
//                                          └─ Engine#dump(family, cmd, version, requests)   (a libuv thread:
//                                               sockets pipelined, recvmmsg, no peek, NLM_F_DUMP_INTR retried)
//                                          <─ { data: one Buffer of every reply, ranges, messages }
//                                          └─ checkDumpResult(): the index checked against `data`
//                                          └─ jobs.doneSpans(i, spans of `data`) for each request, or
//                                             splitDumpReplies(): GenlReply views into `data` -> jobs.done(i, replies)
//
// request(): a dump (GET_SERVICE) goes to a second engine of one socket with large reads (the kernel sizes a
// dump's datagrams by the reader's buffer); anything else (a doit, the controller lookup that resolves the family
// id) goes to the socket transport it was given (linux.ts). Errors come back as the same GenlError kinds as
// GenlSocketTransport's (errnoError, timeoutError in transport.ts).
//
// The addon is optional: loadNativeGenl() reports why it is missing and openNativeOr() then uses the fallback,
// with one log line (openIpvsTransport in ipvs.ts). Only server/kernel loads it.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { GENL_HDRLEN } from "./wire";
import { GenlError, errnoError, timeoutError, type DumpJobs, type GenlReply, type GenlRequestFlags, type GenlTransport } from "./transport";

/** What Engine#dump resolves with: reply k of the whole call is data[messages[2k] .. +messages[2k+1]) (its
 *  genlmsghdr and attributes); request i's replies are messages ranges[2i] .. ranges[2i] + ranges[2i+1] - 1. */
export interface NativeDumpResult {
  data: Uint8Array;
  ranges: Int32Array;
  messages: Int32Array;
}

/** The addon's Engine (native/genl/src/genl_dump.c): NETLINK_GENERIC sockets opened in the constructor, in the
 *  calling thread's network namespace, and kept until close(). One dump() at a time (else it rejects, "busy"). */
export interface NativeEngine {
  dump(type: number, cmd: number, version: number, requests: readonly Uint8Array[], timeoutMs: number, maxRetries: number): Promise<NativeDumpResult>;
  close(): void;
  /** Each socket's netlink port id (or -errno when reopening it failed). */
  ports(): number[];
}

export interface NativeGenlAddon {
  Engine: new (sockets: number, recvBytes: number, batch: number) => NativeEngine;
}

/** Where scripts/build-native.sh puts the addon. */
export const NATIVE_GENL_ADDON = fileURLToPath(new URL("../../../native/genl/build/Release/lvs_genl.node", import.meta.url));

export type NativeLoad = { ok: true; addon: NativeGenlAddon } | { ok: false; reason: string };

/** Loads the addon, or says why it cannot be used (not built, built for another node, not Linux). */
export function loadNativeGenl(path: string = NATIVE_GENL_ADDON): NativeLoad {
  if (process.platform !== "linux") return { ok: false, reason: `netlink is Linux-only (this is ${process.platform})` };
  if (!existsSync(path)) return { ok: false, reason: `${path} is not built` };
  try {
    const addon = createRequire(import.meta.url)(path) as Partial<NativeGenlAddon>;
    if (typeof addon.Engine !== "function") return { ok: false, reason: `${path} has no Engine` };
    return { ok: true, addon: addon as NativeGenlAddon };
  } catch (e) {
    return { ok: false, reason: `${path} does not load: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** `native(addon)` when the addon loads and opening it does not throw, else `fallback()` after one line to `log`
 *  saying why. */
export function openNativeOr<T>(load: () => NativeLoad, native: (addon: NativeGenlAddon) => T, fallback: () => T, log: (line: string) => void): T {
  const loaded = load();
  if (loaded.ok) {
    try {
      return native(loaded.addon);
    } catch (e) {
      log(`native generic netlink engine failed to open (${e instanceof Error ? e.message : String(e)}); using the netlink package's sockets`);
      return fallback();
    }
  }
  log(`native generic netlink engine unavailable (${loaded.reason}); using the netlink package's sockets: run scripts/build-native.sh for faster snapshots`);
  return fallback();
}

/**
 * Checks the engine's index against its buffer (the addon writes it, but a wrong index would otherwise surface
 * as garbage far from here): ranges must cover exactly `count` requests, messages must lie inside `data` and
 * hold at least a genlmsghdr. Returns `data` as a plain Uint8Array (its subarray() is cheaper than Buffer's,
 * which makes a FastBuffer).
 */
export function checkDumpResult(result: NativeDumpResult, count: number, cmd?: number): Uint8Array {
  const { ranges, messages } = result;
  const data = new Uint8Array(result.data.buffer, result.data.byteOffset, result.data.byteLength);
  if (ranges.length !== 2 * count) throw new GenlError("protocol", `native dump index has ${ranges.length / 2} requests, expected ${count}`, cmd);
  if (messages.length % 2 !== 0) throw new GenlError("protocol", "native dump index has an odd length", cmd);
  const nmsg = messages.length / 2;
  for (let i = 0; i < count; i++) {
    const first = ranges[2 * i]!;
    const n = ranges[2 * i + 1]!;
    if (first < 0 || n < 0 || first + n > nmsg) throw new GenlError("protocol", `native dump index: request ${i} has messages ${first}..${first + n - 1} of ${nmsg}`, cmd);
  }
  for (let k = 0; k < nmsg; k++) {
    const off = messages[2 * k]!;
    const len = messages[2 * k + 1]!;
    if (off < 0 || len < GENL_HDRLEN || off + len > data.length) {
      throw new GenlError("protocol", `native dump index: reply ${k} (${len} bytes at ${off}) is outside the ${data.length}-byte buffer or has no genetlink header`, cmd);
    }
  }
  return data;
}

/** The engine's result cut into each request's replies, as views into `data` (no copy), after checkDumpResult. */
export function splitDumpReplies(result: NativeDumpResult, count: number, cmd?: number): GenlReply[][] {
  const data = checkDumpResult(result, count, cmd);
  const { ranges, messages } = result;
  const out: GenlReply[][] = new Array(count);
  for (let i = 0; i < count; i++) {
    const first = ranges[2 * i]!;
    const n = ranges[2 * i + 1]!;
    const replies: GenlReply[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const off = messages[2 * (first + k)]!;
      const len = messages[2 * (first + k) + 1]!;
      replies[k] = { cmd: data[off]!, version: data[off + 1]!, attrs: data.subarray(off + GENL_HDRLEN, off + len) };
    }
    out[i] = replies;
  }
  return out;
}

/** The addon's rejection (an Error with kind, errno, request, syscall, extack) as the GenlError that
 *  GenlSocketTransport would have thrown for the same failure. */
export function nativeError(e: unknown, cmd: number | undefined, timeoutMs: number): GenlError {
  if (e instanceof GenlError) return e;
  const f = (typeof e === "object" && e !== null ? e : {}) as { kind?: unknown; errno?: unknown; extack?: unknown; message?: unknown; syscall?: unknown };
  const errno = typeof f.errno === "number" && f.errno > 0 ? f.errno : undefined;
  const extack = typeof f.extack === "string" ? f.extack : undefined;
  const text = typeof f.message === "string" ? f.message : String(e);
  switch (f.kind) {
    case "errno":
      if (errno !== undefined) return errnoError(errno, cmd, extack);
      break;
    case "permission":
      return errnoError(errno ?? 1, cmd, extack);
    case "timeout":
      return timeoutError(timeoutMs, cmd);
    case "interrupted":
    case "protocol":
    case "closed":
      return new GenlError(f.kind, text, cmd, undefined, undefined, { cause: e });
    case "busy":
      return new GenlError("socket", `netlink socket failed: ${text}`, cmd, errno ?? 16, undefined, { cause: e });
    case "socket":
      if (errno === 1 || errno === 13) return errnoError(errno, cmd);
      return new GenlError("socket", `netlink socket failed: ${text}`, cmd, errno, undefined, { cause: e });
  }
  return new GenlError("socket", `native netlink engine failed: ${text}`, cmd, errno, undefined, { cause: e });
}

export interface NativeGenlOptions {
  /** The genlmsghdr version to send (IPVS_GENL_VERSION). */
  version: number;
  /** Sockets the per-request dumps are pipelined over (default 4). */
  sockets?: number;
  /** The longest wait for the kernel's next datagram (default 10 s, as GenlSocketTransport). */
  timeoutMs?: number;
  /** Runs of a dump flagged NLM_F_DUMP_INTR after the first (default 3). */
  maxDumpRetries?: number;
  /** Most requests per engine call in dumpEach (default 1024; the first calls are smaller): the next chunk
   *  runs on the libuv thread while this thread decodes the last one's replies. */
  chunk?: number;
}

/** The socket transport this one leans on for doit requests and the family id (GenlSocketTransport). */
export interface GenlFallback extends GenlTransport {
  resolveFamily(): Promise<number>;
}

/** Receive buffers: small for the per-request dumps (a few hundred bytes each; the kernel allocates each
 *  datagram at the reader's buffer size), large for one long dump (fewer datagrams: IPVS's service dump walks
 *  its table from the start again for each one). Batch: datagrams per recvmmsg (a short dump is its data and
 *  NLMSG_DONE). */
const MANY = { recvBytes: 8192, batch: 2 };
const BULK = { recvBytes: 32768, batch: 16 };
/** dumpEach's first engine call: 128 requests, then twice as many each call up to `chunk`. */
const FIRST_CHUNK = 128;

export class NativeGenlTransport implements GenlTransport {
  readonly parallelism: number;
  private readonly timeoutMs: number;
  private readonly maxDumpRetries: number;
  private readonly chunk: number;
  private readonly many: NativeEngine;
  private readonly bulk: NativeEngine;
  /** One engine call at a time each (the engine rejects a second one): callers queue here. */
  private readonly queues = { many: { tail: Promise.resolve(), pending: 0 }, bulk: { tail: Promise.resolve(), pending: 0 } };
  private family: number | undefined;
  private closed = false;

  constructor(
    addon: NativeGenlAddon,
    private readonly fallback: GenlFallback,
    private readonly opts: NativeGenlOptions,
  ) {
    const sockets = opts.sockets ?? 4;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxDumpRetries = opts.maxDumpRetries ?? 3;
    this.chunk = Math.max(1, opts.chunk ?? 1024);
    this.parallelism = sockets;
    this.many = new addon.Engine(sockets, MANY.recvBytes, MANY.batch);
    try {
      this.bulk = new addon.Engine(1, BULK.recvBytes, BULK.batch);
    } catch (e) {
      this.many.close();
      throw e;
    }
  }

  async request(cmd: number, attrs: Uint8Array, flags: GenlRequestFlags = {}): Promise<GenlReply[]> {
    if (!flags.dump) return this.fallback.request(cmd, attrs, flags);
    return this.exclusive("bulk", async () => {
      const family = this.family ?? (await this.familyId(cmd));
      const [replies] = await this.engineDump(this.bulk, family, cmd, [attrs]);
      return replies!;
    });
  }

  /**
   * Takes every job and runs them in chunks, one engine call each. The next chunk's call is made (synchronously:
   * the libuv thread starts on it at once) before this thread hands the last chunk's replies to jobs.done, so
   * the kernel's side of the dumps and the decoding run on two CPUs. Stops at the first failure.
   */
  async dumpEach(jobs: DumpJobs): Promise<void> {
    const taken: number[] = [];
    for (let i = jobs.take(); i >= 0; i = jobs.take()) taken.push(i);
    if (taken.length === 0) return;
    await this.exclusive("many", async () => {
      // No await before the first engine call when the family is known: it starts inside this dumpEach() call.
      const family = this.family ?? (await this.familyId(jobs.cmd));
      // The first chunks are small, so this thread has replies to decode soon; later ones are full size.
      let size = Math.min(FIRST_CHUNK, this.chunk);
      const call = (at: number) => {
        const ids = taken.slice(at, at + size);
        size = Math.min(size * 2, this.chunk);
        return { ids, result: this.engineCall(this.many, family, jobs.cmd, ids.map((i) => jobs.requests[i]!)) };
      };
      for (let at = 0, cur = call(0); ; ) {
        const result = await cur.result;
        at += cur.ids.length;
        const next = at < taken.length ? call(at) : undefined;
        try {
          this.handOver(jobs, cur.ids, result);
        } catch (e) {
          await next?.result.catch(() => undefined);
          throw e;
        }
        if (!next) return;
        cur = next;
      }
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.many.close();
    this.bulk.close();
    this.fallback.close();
  }

  /** The family's id, through the socket transport's controller lookup (it keeps the answer). */
  private async familyId(cmd: number): Promise<number> {
    if (this.closed) throw new GenlError("closed", "generic netlink transport is closed", cmd);
    this.family = await this.fallback.resolveFamily();
    return this.family;
  }

  /** One engine call, its replies cut per request; a rejection as GenlError. */
  private async engineDump(engine: NativeEngine, family: number, cmd: number, requests: Uint8Array[]): Promise<GenlReply[][]> {
    return splitDumpReplies(await this.engineCall(engine, family, cmd, requests), requests.length, cmd);
  }

  /** One engine call as the engine resolves it; a rejection as GenlError. */
  private engineCall(engine: NativeEngine, family: number, cmd: number, requests: Uint8Array[]): Promise<NativeDumpResult> {
    return engine.dump(family, cmd, this.opts.version, requests, this.timeoutMs, this.maxDumpRetries).catch((e: unknown) => {
      throw nativeError(e, cmd, this.timeoutMs);
    });
  }

  /** One call's replies to the jobs: as spans of its buffer when the jobs take them (no GenlReply or view per
   *  reply), else cut into GenlReply views. Either way the index is checked first. */
  private handOver(jobs: DumpJobs, ids: number[], result: NativeDumpResult): void {
    const doneSpans = jobs.doneSpans;
    if (!doneSpans) {
      const replies = splitDumpReplies(result, ids.length, jobs.cmd);
      for (let k = 0; k < ids.length; k++) jobs.done(ids[k]!, replies[k]!);
      return;
    }
    const data = checkDumpResult(result, ids.length, jobs.cmd);
    const { ranges, messages } = result;
    for (let k = 0; k < ids.length; k++) doneSpans(ids[k]!, { data, messages, first: ranges[2 * k]!, count: ranges[2 * k + 1]! });
  }

  /** Runs `fn` when the engine's earlier calls have finished (an engine takes one call at a time); at once, in
   *  this call, when none is pending, so the caller's next synchronous work overlaps the engine's. */
  private exclusive<T>(which: "many" | "bulk", fn: () => Promise<T>): Promise<T> {
    const q = this.queues[which];
    const p = q.pending === 0 ? fn() : q.tail.then(fn);
    q.pending++;
    q.tail = p.then(
      () => void q.pending--,
      () => void q.pending--,
    );
    return p;
  }
}
