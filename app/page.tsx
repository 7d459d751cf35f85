import { getQueryClient, HydrateClient, trpc } from "./_trpc/server";
import { Dashboard } from "./_components/dashboard";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function HomePage() {
  // The first HTML already shows the latest sample; the page then follows the live stream.
  await getQueryClient().prefetchQuery(trpc.dashboard.overview.queryOptions());
  return (
    <HydrateClient>
      <Dashboard />
    </HydrateClient>
  );
}
