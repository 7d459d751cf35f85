// The IPVS connection table, streamed from /proc/net/ip_vs_conn (or ip_vs_conn_sync) in 4 KiB reads.
//
// Why a stream and not readProcFile (./procfs.ts): a busy director's table is hundreds of MB, and on kernels
// before 6.14 every read() walks the table from bucket 0 again, so a full read is quadratic (145 s at 262k
// entries in the emulated lab, see shared/kernel-lab.md). A caller folds the chunks into counts as they come
// (server/ipvs/proc/conn-summary.ts) and runs this in the background (server/ipvs/conntable/), never inside a
// request. The kernel hands out at most a page per read(): 4 KiB reads are the fewest walks; ipvsadm -Lnc
// reads 1 KiB at a time and pays about four times the kernel work.
//
// The paths are fixed: nothing a client sends names a file. The caps bound what one pass may cost.
import { readSync } from "node:fs";
import { open } from "node:fs/promises";

export type IpvsConnFile = "ip_vs_conn" | "ip_vs_conn_sync";

export interface IpvsConnReadOptions {
  file?: IpvsConnFile;
  /** Stop with IpvsConnReadLimitError("bytes") past this many bytes. Default 1 GiB. */
  maxBytes?: number;
  /** Stop with IpvsConnReadLimitError("time") once a pass has run this long. Default 15 minutes. */
  maxMs?: number;
  /** Stops the read between two chunks; the iterator then throws the signal's reason. */
  signal?: AbortSignal;
  /** Root of procfs (tests of the I/O itself point it at a directory of plain files). Default "/proc". */
  procRoot?: string;
  /** How long the reads may hold the event loop before it gets a turn. Default 10 ms (see below). */
  yieldEveryMs?: number;
}

export const DEFAULT_CONN_MAX_BYTES = 1 << 30;
export const DEFAULT_CONN_MAX_MS = 15 * 60_000;
const CHUNK_BYTES = 4096;

export class IpvsConnReadLimitError extends Error {
  override name = "IpvsConnReadLimitError";
  constructor(
    readonly limit: "bytes" | "time",
    readonly file: IpvsConnFile,
    /** Bytes read before the pass stopped. */
    readonly bytesRead: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Yields the file's bytes, one read() at a time.
 *
 * The reads are synchronous, on this thread, and the event loop gets a turn (setImmediate) whenever they have
 * held it for `yieldEveryMs`, or after every read once one read alone takes that long. The asynchronous
 * FileHandle.read went through libuv's thread pool: two thread hand-offs and a wake-up of the loop for every
 * 4 KiB, which in the emulated lab made a pass two to three times slower than `dd bs=4096` over the same table.
 * The cost is that one read() holds the loop for as long as the kernel's walk to that position takes. The chunk is a view of ONE reused 4 KiB buffer, valid until
 * the next step of the iteration: consume it (ConnStreamParser.write copies only a split line) before asking
 * for the next. Errors from the file system (ENOENT when ip_vs is not loaded, EACCES) are thrown unchanged.
 */
export async function* readIpvsConnTable(options: IpvsConnReadOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const file = options.file ?? "ip_vs_conn";
  const maxBytes = options.maxBytes ?? DEFAULT_CONN_MAX_BYTES;
  const maxMs = options.maxMs ?? DEFAULT_CONN_MAX_MS;
  const yieldEveryMs = options.yieldEveryMs ?? 10;
  const started = Date.now();
  const handle = await open(`${options.procRoot ?? "/proc"}/net/${file}`, "r");
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let total = 0;
    let lastTurn = started;
    for (;;) {
      const now = Date.now();
      if (now - lastTurn >= yieldEveryMs) {
        await new Promise((resolve) => setImmediate(resolve));
        lastTurn = Date.now();
      }
      options.signal?.throwIfAborted();
      if (now - started > maxMs) {
        throw new IpvsConnReadLimitError("time", file, total, `reading /proc/net/${file} took longer than ${maxMs} ms (stopped after ${total} bytes)`);
      }
      const bytesRead = readSync(handle.fd, buf, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return;
      total += bytesRead;
      if (total > maxBytes) {
        throw new IpvsConnReadLimitError("bytes", file, total, `/proc/net/${file} is larger than ${maxBytes} bytes`);
      }
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}
