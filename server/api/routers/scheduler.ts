// The scheduler explainer for one virtual service (server/ipvs/scheduler/): the kernel's rule on the live
// numbers. The numbers come from the netlink dump in the kernel's list order (ipvs.metrics), which ties and
// the wrr/sh tables depend on; ipvs.snapshot sorts destinations as ipvsadm does and would not do.
import { z } from "zod";

import { createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { serviceKey } from "@/server/history/keys";
import { explainScheduler, type Explanation } from "@/server/ipvs/scheduler/explain";
import { schedServiceFromNetlink } from "@/server/ipvs/scheduler/snapshot";

const explainInput = z
  .object({
    /** serviceKey of server/history/keys.ts: "tcp/192.0.2.100:80", "fwm/42". */
    key: z.string().min(1).max(200),
    clientAddress: z.string().max(64).optional(),
    clientPort: z.number().int().min(0).max(65535).optional(),
    destAddress: z.string().max(64).optional(),
  })
  .strict();

export type SchedulerView =
  | { available: false; reason: string }
  | { available: true; found: false; key: string; services: string[] }
  | {
      available: true;
      found: true;
      key: string;
      takenAt: number;
      persistent: boolean;
      timeout: number;
      sched1: boolean;
      sched2: boolean;
      explanation: Explanation;
    };

export const schedulerRouter = createTRPCRouter({
  explain: viewerProcedure.input(explainInput).query(async ({ ctx, input }): Promise<SchedulerView> => {
    const data = await ctx.agent.call("ipvs.metrics", {});
    if (!data.available) return { available: false, reason: data.reason };
    const takenAt = Date.now();
    const svc = data.services.find((s) => serviceKey(s.service) === input.key);
    if (!svc) return { available: true, found: false, key: input.key, services: data.services.map((s) => serviceKey(s.service)) };
    const explanation = explainScheduler(schedServiceFromNetlink(svc), {
      ...(input.clientAddress ? { clientAddress: input.clientAddress } : {}),
      ...(input.clientPort !== undefined ? { clientPort: input.clientPort } : {}),
      ...(input.destAddress ? { destAddress: input.destAddress } : {}),
    });
    return {
      available: true, found: true, key: input.key, takenAt, persistent: svc.flags.persistent, timeout: svc.timeout,
      sched1: svc.flags.sched1, sched2: svc.flags.sched2, explanation,
    };
  }),
});
