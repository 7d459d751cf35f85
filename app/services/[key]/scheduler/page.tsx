import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";
import { decodeServiceKey } from "@/app/services/_components/service-key";

import { SchedulerView } from "./_components/scheduler-view";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function Page({ params }: { params: Promise<{ key: string }> }) {
  const key = decodeServiceKey((await params).key);
  await getQueryClient().prefetchQuery(trpc.scheduler.explain.queryOptions({ key }));
  return (
    <HydrateClient>
      <SchedulerView serviceKey={key} />
    </HydrateClient>
  );
}
