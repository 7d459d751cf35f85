import { getQueryClient, HydrateClient, trpc } from "./_trpc/server";
import { Dashboard } from "./_components/dashboard";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function HomePage() {
  const queryClient = getQueryClient();
  await Promise.all([
    queryClient.prefetchQuery(trpc.ipvs.status.queryOptions()),
    queryClient.prefetchQuery(trpc.host.info.queryOptions()),
  ]);
  return (
    <HydrateClient>
      <Dashboard />
    </HydrateClient>
  );
}
