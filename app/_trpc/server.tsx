// Server components' side of tRPC: the same procedures, called in-process (no HTTP), into a per-request
// query cache that HydrateClient hands to the browser. The first HTML then already shows the kernel's state.
import "server-only";

import { dehydrate, HydrationBoundary } from "@tanstack/react-query";
import { createTRPCOptionsProxy } from "@trpc/tanstack-react-query";
import { headers } from "next/headers";
import { cache, type ReactNode } from "react";

import { appRouter } from "@/server/api/root";
import { createTRPCContext } from "@/server/api/trpc";

import { createQueryClient } from "./query-client";

/** One query cache per request. */
export const getQueryClient = cache(createQueryClient);

const createContext = cache(async () => createTRPCContext({ headers: new Headers(await headers()) }));

export const trpc = createTRPCOptionsProxy({ router: appRouter, ctx: createContext, queryClient: getQueryClient });

/** Sends what the server prefetched to the client's cache (failed queries are left for the client to retry). */
export function HydrateClient({ children }: { children: ReactNode }) {
  return <HydrationBoundary state={dehydrate(getQueryClient())}>{children}</HydrationBoundary>;
}
