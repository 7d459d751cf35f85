// The agent's connection-table ops (conns.status, conns.query, conns.refresh): one ConnTableRefresher per agent,
// started by the first op that asks for it, so that an agent nobody asks about connections never walks the
// kernel's table. The reader is injected (server/kernel/ipvs-conn.ts in the agent), so this file does no I/O.
//
// Nothing here reads /proc/net/ip_vs_conn inside a request: status and query answer from the last completed
// pass, and refresh only asks for a pass (joining the one in flight) and returns at once; the page follows the
// pass through conns.status's progress.
import { z } from "zod";

import { ConnFilterError, type ConnFilter } from "@/server/ipvs/proc/conn-filter";

import { ConnTableRefresher, type ConnTablePage, type ConnTableReader, type ConnTableStatus } from "./refresher";

/** A million entries in the store (25 MB): the whole table of a busy director stays pageable. */
export const AGENT_RETAIN_ENTRIES = 1_000_000;

// ---------------------------------------------------------------------------------------------------------
// Wire shapes (AGENT_OPS in server/agent/protocol.ts uses these schemas)
// ---------------------------------------------------------------------------------------------------------

const address = z.string().min(1).max(64);
const port = z.number().int().min(0).max(65535);
const endpoint = z.object({ address, port: port.optional() }).strict();

export const connFilterSchema = z
  .object({
    protocol: z.string().min(1).max(8).optional(),
    virtual: endpoint.optional(),
    real: endpoint.optional(),
    clientCidr: z.string().min(1).max(64).optional(),
    states: z.array(z.string().min(1).max(16)).max(32).optional(),
    templates: z.enum(["exclude", "include", "only"]).optional(),
  })
  .strict();

export const connQueryInput = z
  .object({
    filter: connFilterSchema.optional(),
    offset: z.number().int().min(0).max(100_000_000).optional(),
    limit: z.number().int().min(0).max(1000).optional(),
  })
  .strict();

export type ConnQueryInput = z.infer<typeof connQueryInput>;

export interface ConnsStatus extends ConnTableStatus {
  /** The agent's clock when it answered (ages and "next pass in" are relative to it). */
  now: number;
  /** Entries a pass keeps for paging; a larger table pages over its first this many. */
  retainEntries: number;
}

export interface ConnsPage extends ConnTablePage {
  now: number;
}

/** `conns.query`: a page of the last completed pass, or null before the first one completes. */
export type ConnsQueryResult = ConnsPage | null;

export interface ConnsRefreshResult {
  /** True when a pass was already running and the request joined it. */
  joined: boolean;
  status: ConnsStatus;
}

// ---------------------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------------------

/** What the handlers throw for a filter the store cannot compile (a bad CIDR, an address that is none). */
export class ConnQueryError extends Error {
  override name = "ConnQueryError";
}

export interface ConnTableOps {
  status(): Promise<ConnsStatus>;
  query(input: ConnQueryInput): Promise<ConnsQueryResult>;
  refresh(): Promise<ConnsRefreshResult>;
  /** The refresher, once one of the ops started it. */
  readonly table: ConnTableRefresher | null;
  stop(): Promise<void>;
}

export function createConnTableOps(
  read: ConnTableReader,
  options: { retainEntries?: number; intervalMs?: number; now?: () => number } = {},
): ConnTableOps {
  const retainEntries = options.retainEntries ?? AGENT_RETAIN_ENTRIES;
  const now = options.now ?? Date.now;
  let table: ConnTableRefresher | null = null;
  const started = (): ConnTableRefresher => {
    if (!table) {
      table = new ConnTableRefresher({ read, retainEntries, ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}) });
      table.start();
    }
    return table;
  };
  const status = (t: ConnTableRefresher): ConnsStatus => ({ ...t.status(), now: now(), retainEntries });
  return {
    get table() {
      return table;
    },
    async status() {
      return status(started());
    },
    async query(input) {
      const t = started();
      try {
        const page = t.query({ ...(input.filter ? { filter: input.filter as ConnFilter } : {}), offset: input.offset ?? 0, limit: input.limit ?? 100 });
        return page ? { ...page, now: now() } : null;
      } catch (error) {
        if (error instanceof ConnFilterError || error instanceof RangeError) throw new ConnQueryError(error.message);
        throw error;
      }
    },
    async refresh() {
      const t = started();
      const joined = t.status().progress.inFlight;
      // Not awaited: a pass over a large table takes minutes on kernels before 6.14. Its end shows in status.
      void t.refreshNow();
      return { joined, status: status(t) };
    },
    async stop() {
      await table?.stop();
    },
  };
}
