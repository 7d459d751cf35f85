// Draining a real server: weight 0 (IPVS schedules no new connection to it; existing ones go on), watch its
// active connections fall, then remove it from the service, or leave it at weight 0 for the admin. Runs in
// the agent (the netlink client lives there) as a background job the dashboard polls; cancelling puts the
// weight back. One drain per real server of a service at a time.
//
//   start   read the real server (refused when absent), remember its weight, SET_DEST weight 0
//   poll    every pollMs: ActiveConn (and InActConn) of the real server; "drained" once ActiveConn is 0
//           (and InActConn too with waitInactive), then DEL_DEST when `remove`; "timed-out" after
//           timeoutSeconds with connections left (weight stays 0: nothing is cut off)
//   cancel  SET_DEST with the weight from before (only while draining or timed out)
//
// The kernel is behind DrainClient (the netlink client's three calls), opened per use and closed after.
import { randomBytes } from "node:crypto";

import { z } from "zod";

import { destConfig } from "@/server/ipvs/apply/plan";
import type { Destination, DestinationConfig, Service } from "@/server/ipvs/netlink/types";
import type { ServiceKey } from "@/server/ipvs/rules/model";
import { serviceFromKey } from "@/server/ipvs/snapshot/rules";

export interface DrainClient {
  listDestinations(service: Service): Promise<Destination[]>;
  setDest(service: Service, dest: DestinationConfig): Promise<void>;
  delDest(service: Service, dest: { address: string; port: number; family?: Service["family"] }): Promise<void>;
  close(): void;
}

const ipAddress = z.string().refine((s) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || /^[0-9a-fA-F:]{2,39}$/.test(s), "not an IP address");
const port = z.number().int().min(0).max(65535);

export const serviceKeyInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("address"), protocol: z.enum(["TCP", "UDP", "SCTP"]), family: z.union([z.literal(4), z.literal(6)]).default(4), address: ipAddress, port }).strict(),
  z.object({ kind: z.literal("fwmark"), fwmark: z.number().int().min(1).max(0xffffffff), family: z.union([z.literal(4), z.literal(6)]).default(4) }).strict(),
]);

export const drainStartInput = z
  .object({
    service: serviceKeyInput,
    dest: z.object({ address: ipAddress, port }).strict(),
    /** Remove the real server once drained (default), or leave it at weight 0. */
    remove: z.boolean().default(true),
    /** Also wait for InActConn to reach 0 (FIN_WAIT/TIME_WAIT entries; in DR they linger ~2 min). */
    waitInactive: z.boolean().default(false),
    timeoutSeconds: z.number().int().min(1).max(86_400).default(600),
  })
  .strict();
export type DrainStartInput = z.output<typeof drainStartInput>;

export const drainIdInput = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/) }).strict();

export type DrainState = "draining" | "drained" | "removed" | "timed-out" | "cancelled" | "gone" | "failed";

export interface DrainStatus {
  id: string;
  service: ServiceKey;
  dest: { address: string; port: number };
  state: DrainState;
  /** The weight before the drain (what cancel restores). */
  weightBefore: number;
  remove: boolean;
  startedAt: number;
  deadline: number;
  endedAt?: number;
  /** ActiveConn/InActConn over time (the last 120 samples). */
  samples: { at: number; active: number; inactive: number }[];
  error?: string;
}

export class DrainError extends Error {
  override name = "DrainError";
}

export interface DrainManagerOptions {
  open: () => DrainClient;
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DrainManager {
  start(input: DrainStartInput): Promise<DrainStatus>;
  cancel(id: string): Promise<DrainStatus>;
  list(): DrainStatus[];
  /** Resolves when the drain leaves "draining" (tests and the CLI wait on it). */
  settled(id: string): Promise<DrainStatus>;
}

const MAX_SAMPLES = 120;
const KEEP_FINISHED = 20;
const sameDest = (d: Pick<Destination, "address" | "port">, want: { address: string; port: number }) => d.address === want.address && d.port === want.port;

export function createDrainManager(options: DrainManagerOptions): DrainManager {
  const pollMs = options.pollMs ?? 1_000;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const drains = new Map<string, { status: DrainStatus; svc: Service; before: Destination; waitInactive: boolean; done: Promise<void>; stop: boolean }>();

  const withClient = async <T>(fn: (c: DrainClient) => Promise<T>): Promise<T> => {
    const c = options.open();
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };

  const finish = (status: DrainStatus, state: DrainState, error?: string) => {
    status.state = state;
    status.endedAt = now();
    if (error !== undefined) status.error = error;
    const finished = [...drains.values()].filter((d) => d.status.state !== "draining");
    for (const d of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) drains.delete(d.status.id);
  };

  const watch = async (id: string) => {
    const d = drains.get(id)!;
    const s = d.status;
    while (!d.stop) {
      let dest: Destination | undefined;
      try {
        dest = (await withClient((c) => c.listDestinations(d.svc))).find((x) => sameDest(x, s.dest));
      } catch (e) {
        return finish(s, "failed", `reading the real server: ${(e as Error).message}`);
      }
      if (d.stop) return;
      if (!dest) return finish(s, "gone", "the real server was removed by someone else");
      s.samples.push({ at: now(), active: dest.activeConns, inactive: dest.inactiveConns });
      if (s.samples.length > MAX_SAMPLES) s.samples.shift();
      if (dest.activeConns === 0 && (!d.waitInactive || dest.inactiveConns === 0)) {
        if (!s.remove) return finish(s, "drained");
        try {
          await withClient((c) => c.delDest(d.svc, { address: dest.address, port: dest.port, family: dest.family }));
        } catch (e) {
          return finish(s, "failed", `removing the real server: ${(e as Error).message}`);
        }
        return finish(s, "removed");
      }
      if (now() >= s.deadline) return finish(s, "timed-out", `${dest.activeConns} active connection(s) left: the weight stays 0`);
      await sleep(pollMs);
    }
  };

  return {
    async start(input) {
      const svc = serviceFromKey(input.service);
      for (const d of drains.values()) {
        if (d.status.state === "draining" && sameDest(d.status.dest, input.dest) && JSON.stringify(d.svc) === JSON.stringify(svc)) {
          throw new DrainError(`${input.dest.address}:${input.dest.port} is already draining (${d.status.id})`);
        }
      }
      const before = await withClient(async (c) => {
        const dest = (await c.listDestinations(svc)).find((x) => sameDest(x, input.dest));
        if (!dest) throw new DrainError(`the service has no real server ${input.dest.address}:${input.dest.port}`);
        if (dest.weight !== 0) await c.setDest(svc, { ...destConfig(dest), weight: 0 });
        return dest;
      });
      const t = now();
      const status: DrainStatus = {
        id: randomBytes(8).toString("hex"),
        service: input.service,
        dest: input.dest,
        state: "draining",
        weightBefore: before.weight,
        remove: input.remove,
        startedAt: t,
        deadline: t + input.timeoutSeconds * 1000,
        samples: [],
      };
      const entry = { status, svc, before, waitInactive: input.waitInactive, done: Promise.resolve(), stop: false };
      drains.set(status.id, entry);
      entry.done = watch(status.id);
      return { ...status };
    },

    async cancel(id) {
      const d = drains.get(id);
      if (!d) throw new DrainError(`no drain ${id}`);
      // Draining: stop and restore. Kept at weight 0 (drained, or timed out with connections left): restore.
      if (d.status.state !== "draining" && d.status.state !== "timed-out" && d.status.state !== "drained") throw new DrainError(`drain ${id} is ${d.status.state}: nothing to cancel`);
      d.stop = true;
      await d.done;
      await withClient(async (c) => {
        const dest = (await c.listDestinations(d.svc)).find((x) => sameDest(x, d.status.dest));
        if (!dest) throw new DrainError("the real server is gone: nothing to restore");
        await c.setDest(d.svc, { ...destConfig(dest), weight: d.before.weight });
      });
      finish(d.status, "cancelled");
      return { ...d.status };
    },

    list: () => [...drains.values()].map((d) => ({ ...d.status, samples: [...d.status.samples] })),

    async settled(id) {
      const d = drains.get(id);
      if (!d) throw new DrainError(`no drain ${id}`);
      await d.done;
      return { ...d.status };
    },
  };
}
