// A GenlTransport whose sockets live in a worker thread, so that a long run of dumps (a snapshot's GET_DEST per
// service) uses a second CPU: the kernel's side of a dump runs in the syscalls of the thread that reads it, and
// so does the native binding's per-datagram work. The calling thread decodes the replies meanwhile.
//
//   calling thread                                   worker thread (worker-entry.ts)
//   GenlWorkerTransport.dumpEach(jobs)               GenlTransportPool of GenlSocketTransport (linux.ts)
//     takes CHUNK requests at a time from jobs ──►     runDumps(chunk) over its sockets
//     jobs.done(i, replies) for each  ◄── one message per chunk: every reply's bytes in one transferred buffer
//
// request() goes to the worker too (one message each way). Errors come back as GenlError with their fields.
// Put it in a GenlTransportPool beside sockets of the calling thread (openIpvsTransport({ workers: 1 })): every
// member takes from the same jobs, so the split follows whichever side is faster.
import { join } from "node:path";
import { Worker } from "node:worker_threads";

import { GenlError, type DumpJobs, type GenlErrorKind, type GenlReply, type GenlSocketOptions, type GenlTransport } from "./transport";

/** Dumps handed to the worker per message; two chunks are in flight so the worker never waits for us. */
const CHUNK = 64;

export interface GenlWorkerOptions extends GenlSocketOptions {
  /** Sockets the worker spreads its dumps over (default 8). */
  sockets?: number;
}

/** Calling thread -> worker. */
export type ToWorker =
  | { type: "request"; id: number; cmd: number; attrs: Uint8Array; dump: boolean }
  | { type: "dumps"; id: number; cmd: number; bytes: Uint8Array; ends: Uint32Array }
  | { type: "close" };

/** Worker -> calling thread. Replies of a chunk: for dump k, counts[k] replies; reply r's attributes are
 *  bytes[attrEnds[r-1] .. attrEnds[r]) (0 for the first), with cmds[r] and versions[r]. */
export type FromWorker =
  | { type: "ready" }
  | { type: "replies"; id: number; counts: Uint32Array; cmds: Uint8Array; versions: Uint8Array; attrEnds: Uint32Array; bytes: Uint8Array }
  | { type: "error"; id: number; error: SerializedGenlError };

export interface SerializedGenlError {
  kind: GenlErrorKind;
  message: string;
  cmd?: number;
  errno?: number;
  extack?: string;
}

export function serializeError(e: unknown): SerializedGenlError {
  if (e instanceof GenlError) return { kind: e.kind, message: e.message, cmd: e.cmd, errno: e.errno, extack: e.extack };
  return { kind: "socket", message: `netlink worker failed: ${e instanceof Error ? e.message : String(e)}` };
}

function deserializeError(s: SerializedGenlError): GenlError {
  return new GenlError(s.kind, s.message, s.cmd, s.errno, s.extack);
}

/** Packs replies (a chunk's dumps, in order) into one message's arrays. */
export function packReplies(id: number, perDump: GenlReply[][]): Extract<FromWorker, { type: "replies" }> {
  let n = 0;
  let size = 0;
  for (const rs of perDump) {
    n += rs.length;
    for (const r of rs) size += r.attrs.length;
  }
  const counts = new Uint32Array(perDump.length);
  const cmds = new Uint8Array(n);
  const versions = new Uint8Array(n);
  const attrEnds = new Uint32Array(n);
  const bytes = new Uint8Array(size);
  let r = 0;
  let at = 0;
  perDump.forEach((rs, k) => {
    counts[k] = rs.length;
    for (const x of rs) {
      bytes.set(x.attrs, at);
      at += x.attrs.length;
      cmds[r] = x.cmd;
      versions[r] = x.version;
      attrEnds[r++] = at;
    }
  });
  return { type: "replies", id, counts, cmds, versions, attrEnds, bytes };
}

/** The inverse of packReplies: views into the one buffer, no copy. */
export function unpackReplies(m: Extract<FromWorker, { type: "replies" }>): GenlReply[][] {
  const out: GenlReply[][] = new Array(m.counts.length);
  let r = 0;
  let at = 0;
  for (let k = 0; k < m.counts.length; k++) {
    const rs: GenlReply[] = new Array(m.counts[k]!);
    for (let j = 0; j < rs.length; j++, r++) {
      const end = m.attrEnds[r]!;
      rs[j] = { cmd: m.cmds[r]!, version: m.versions[r]!, attrs: m.bytes.subarray(at, end) };
      at = end;
    }
    out[k] = rs;
  }
  return out;
}

export class GenlWorkerTransport implements GenlTransport {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: Extract<FromWorker, { type: "replies" }>) => void; reject: (e: unknown) => void }>();
  private closed = false;
  private failure: unknown;
  /** Set when the worker has its sockets open: until then dumpEach takes no jobs (starting a worker takes
   *  seconds under emulation; the calling thread's sockets do the work meanwhile). */
  private ready = false;

  constructor(opts: GenlWorkerOptions) {
    // Started through a plain .mjs that registers tsx (the agent runs TypeScript through it, as server/main.ts
    // is started), then loads worker-entry.ts.
    this.worker = new Worker(join(import.meta.dirname, "worker-boot.mjs"), {
      workerData: { entry: join(import.meta.dirname, "worker-entry.ts"), options: opts },
    });
    this.worker.unref();
    this.worker.on("message", (m: FromWorker) => {
      if (m.type === "ready") {
        this.ready = true;
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0 && !this.closed) this.worker.unref();
      if (m.type === "replies") p.resolve(m);
      else p.reject(deserializeError(m.error));
    });
    const fail = (e: unknown) => {
      if (this.failure) return;
      this.failure = new GenlError("socket", `netlink worker stopped: ${e instanceof Error ? e.message : String(e)}`, undefined, undefined, undefined, { cause: e });
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => {
      if (!this.closed) fail(new Error(`exit ${code}`));
    });
  }

  private send(m: ToWorker, transfer: ArrayBuffer[] = []): Promise<Extract<FromWorker, { type: "replies" }>> {
    if (this.closed) return Promise.reject(new GenlError("closed", "generic netlink transport is closed"));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      if (m.type !== "close") this.pending.set(m.id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(m, transfer);
    });
  }

  async request(cmd: number, attrs: Uint8Array, flags: { dump?: boolean } = {}): Promise<GenlReply[]> {
    const reply = await this.send({ type: "request", id: this.nextId++, cmd, attrs: attrs.slice(), dump: flags.dump === true });
    return unpackReplies(reply)[0] ?? [];
  }

  /** Takes CHUNK dumps at a time, two chunks in flight; none before the worker is ready. */
  async dumpEach(jobs: DumpJobs): Promise<void> {
    if (!this.ready) return;
    const runChunk = async (): Promise<boolean> => {
      const indexes: number[] = [];
      while (indexes.length < CHUNK) {
        const i = jobs.take();
        if (i < 0) break;
        indexes.push(i);
      }
      if (indexes.length === 0) return false;
      let size = 0;
      for (const i of indexes) size += jobs.requests[i]!.length;
      const bytes = new Uint8Array(size);
      const ends = new Uint32Array(indexes.length);
      let at = 0;
      indexes.forEach((i, k) => {
        bytes.set(jobs.requests[i]!, at);
        at += jobs.requests[i]!.length;
        ends[k] = at;
      });
      const reply = await this.send({ type: "dumps", id: this.nextId++, cmd: jobs.cmd, bytes, ends }, [bytes.buffer, ends.buffer]);
      const perDump = unpackReplies(reply);
      for (let k = 0; k < indexes.length; k++) jobs.done(indexes[k]!, perDump[k]!);
      return true;
    };
    const lane = async () => {
      while (await runChunk());
    };
    await Promise.all([lane(), lane()]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new GenlError("closed", "generic netlink transport closed"));
    this.pending.clear();
    // The worker closes its sockets and ends by itself; the process waits for that (ref'd until its exit), since
    // a worker stopped while its native sockets are open takes the process down (SIGSEGV in the binding's
    // teardown).
    this.worker.ref();
    this.worker.postMessage({ type: "close" } satisfies ToWorker);
  }
}
