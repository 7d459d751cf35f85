import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";

import { ConnectionsView } from "./_components/connections-view";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function Page() {
  await getQueryClient().prefetchQuery(trpc.connections.status.queryOptions());
  return (
    <HydrateClient>
      <ConnectionsView />
    </HydrateClient>
  );
}
