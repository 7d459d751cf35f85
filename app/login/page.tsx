// /login: sign in, or create the first admin with the setup link the server printed at its first start.
import type { Metadata } from "next";

import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";

import { LoginView } from "./login-view";

export const metadata: Metadata = { title: "Sign in · LVS Dashboard", referrer: "no-referrer" };
export const dynamic = "force-dynamic";

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const one = (v: string | string[] | undefined) => (typeof v === "string" ? v : null);
  // The first HTML already knows whether this is a sign-in or the first-admin setup.
  await getQueryClient().prefetchQuery(trpc.auth.status.queryOptions());
  return (
    <HydrateClient>
      <LoginView setupToken={one(params.setup)} next={one(params.next)} idle={params.idle === "1"} />
    </HydrateClient>
  );
}
