// Real-server agents paired with this dashboard (server/realservers/): list, pair (checks the URL and token
// by asking the agent for its facts), unpair, a real server's facts (addresses, routes, ARP/rp_filter
// sysctls per interface, ipip, tunl0), and the diagnostics' effective-sysctl checks run on them (check).
import { TRPCError } from "@trpc/server";
import { z } from "zod";

import { adminProcedure, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";
import { evaluateHostSysctls } from "@/server/diagnostics/sysctls";
import { PairingInputError, RealServerNotFound, sharedRealServerRegistry, type RealServerRegistry } from "@/server/realservers/registry";

const id = z.number().int().positive();

/** Registry errors as tRPC errors; agent errors (AgentError) go through the shared adapter (errors.ts). */
async function mapped<T>(run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof RealServerNotFound) throw new TRPCError({ code: "NOT_FOUND", message: e.message });
    if (e instanceof PairingInputError) throw new TRPCError({ code: "BAD_REQUEST", message: e.message });
    throw e;
  }
}

export function createRealServersRouter(registry: () => RealServerRegistry = sharedRealServerRegistry) {
  return createTRPCRouter({
    list: viewerProcedure.query(() => registry().list()),
    pair: adminProcedure
      .input(
        z
          .object({
            url: z.string().min(1).max(300),
            token: z.string().trim().min(32, "the token the rs-agent printed (at least 32 characters)").max(512),
            fingerprint: z.string().max(200).optional(),
            name: z.string().trim().max(64).regex(/^[A-Za-z0-9_. -]*$/, "letters, digits, space, '_', '.', '-'").optional(),
          })
          .strict(),
      )
      .mutation(({ input }) => mapped(async () => (await registry().pair(input)).server)),
    unpair: adminProcedure.input(z.object({ id }).strict()).mutation(({ input }) =>
      mapped(() => {
        if (!registry().unpair(input.id)) throw new RealServerNotFound(`no paired real server with id ${input.id}`);
        return { id: input.id };
      }),
    ),
    facts: viewerProcedure.input(z.object({ id }).strict()).query(({ input }) => mapped(() => registry().facts(input.id))),
    /** The effective-sysctl checks (server/diagnostics/sysctls.ts) on the real server's own facts, for the
     *  VIPs it should serve: ARP suppression, the VIP on lo or tunl0, rp_filter, tunl0 up. */
    check: viewerProcedure
      .input(
        z
          .object({
            id,
            vips: z.array(z.object({ address: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/), mode: z.enum(["dr", "nat", "tun", "fullnat"]) }).strict()).min(1).max(64),
          })
          .strict(),
      )
      .query(({ input }) => mapped(async () => evaluateHostSysctls(await registry().facts(input.id), { role: "real-server", vips: input.vips }))),
  });
}

export const realServersRouter = createRealServersRouter();
