// What a command gets: where to write, how to read its input, and the kernel behind factories, so that tests
// run every command over a recorded-reply fake transport (test/cli) and the real ones are loaded only when a
// command needs them (start-up stays cheap: `lvsdash --help` loads no native addon).
import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { ModuleProbe } from "@/server/ipvs/apply/validate";

export interface CliIo {
  /** May return a promise: wait for it before writing more (stdout backpressure). */
  stdout(text: string): void | Promise<void>;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  readFile(path: string): Promise<string>;
}

export interface CliKernel {
  openClient(): Promise<IpvsClient>;
  probeModule: ModuleProbe;
  /** /proc/net/ip_vs_conn (or _sync) in 4 KiB reads (server/kernel/ipvs-conn.ts); each chunk is valid until
   *  the next is asked for. */
  connTable(file: "ip_vs_conn" | "ip_vs_conn_sync"): AsyncIterable<Uint8Array>;
  now(): number;
}

export interface CliContext {
  io: CliIo;
  kernel: CliKernel;
}

/** A usage mistake: exit 2 with the command's usage. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

/** node:util parseArgs (plus -h/--help), a mistake as a CliUsageError (exit 2 with the command's usage). */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T, positionals = false) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new CliUsageError((e as Error).message);
  }
}

export const EXIT = {
  ok: 0,
  /** The kernel refused, or an apply failed (and was rolled back). */
  failed: 1,
  /** Usage error or bad input: nothing was changed. */
  usage: 2,
  /** IPVS is not loaded in this kernel. */
  notLoaded: 3,
  /** Not allowed: run as root or with CAP_NET_ADMIN. */
  permission: 4,
} as const;
