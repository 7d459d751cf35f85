import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";

import { HostPage } from "./_components/host-page";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function Page() {
  const queryClient = getQueryClient();
  await Promise.all([queryClient.prefetchQuery(trpc.host.info.queryOptions()), queryClient.prefetchQuery(trpc.host.ipvs.queryOptions())]);
  return (
    <HydrateClient>
      <HostPage />
    </HydrateClient>
  );
}
