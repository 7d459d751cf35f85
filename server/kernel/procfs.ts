// Reads of /proc and /proc/sys, for the agent. Only the names in PROC_FILES can be read: callers pass a key,
// never a path, so nothing that reaches the agent from a client can name a file.
//
// /proc files report size 0, so they are read to EOF in 4 KiB pieces (the kernel hands out at most a page per
// read(); larger buffers gain nothing, see shared/kernel-lab.md) up to a cap per file: a connection table can
// be hundreds of MB, and the agent must not buffer that on a client's behalf.
import { open } from "node:fs/promises";

/** The files the agent may read, by key. The value is the path below the proc root. */
export const PROC_FILES = {
  /** IPVS services and real servers; ENOENT when ip_vs is not loaded. */
  "net/ip_vs": "net/ip_vs",
  /** The director's total counters (what node_exporter's node_ipvs_*_total report). */
  "net/ip_vs_stats": "net/ip_vs_stats",
  "sys/kernel/osrelease": "sys/kernel/osrelease",
  "sys/kernel/hostname": "sys/kernel/hostname",
  /** Uid and capability sets (CapEff) of the agent itself. */
  "self/status": "self/status",
  /** The IPv4 neighbour table: the real servers' MACs for live diagnostics (server/capture/live/site.ts). */
  "net/arp": "net/arp",
} as const;

export type ProcFile = keyof typeof PROC_FILES;

/** Default cap: /proc/net/ip_vs is about 130 bytes per service and 60 per real server. */
export const DEFAULT_PROC_MAX_BYTES = 16 * 1024 * 1024;

const CHUNK_BYTES = 4096;

export class ProcFileTooLargeError extends Error {
  constructor(
    readonly file: ProcFile,
    readonly maxBytes: number,
  ) {
    super(`/proc/${PROC_FILES[file]} is larger than ${maxBytes} bytes`);
    this.name = "ProcFileTooLargeError";
  }
}

export interface ProcReadOptions {
  maxBytes?: number;
}

/**
 * The whole text of one allow-listed /proc file. Errors from the file system (ENOENT when a module is not
 * loaded, EACCES) are thrown unchanged, with their `code`.
 */
export async function readProcFile(file: ProcFile, options: ProcReadOptions = {}): Promise<string> {
  const maxBytes = options.maxBytes ?? DEFAULT_PROC_MAX_BYTES;
  const path = `/proc/${PROC_FILES[file]}`;
  const handle = await open(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new ProcFileTooLargeError(file, maxBytes);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } finally {
    await handle.close();
  }
}

/** True when `error` is a file-system error with this code (ENOENT, EACCES, ...). */
export function isErrnoCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
