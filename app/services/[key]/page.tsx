import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";
import { ServicePage } from "@/app/services/_components/service-page";
import { decodeServiceKey } from "@/app/services/_components/service-key";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

export default async function Page({ params }: { params: Promise<{ key: string }> }) {
  const key = decodeServiceKey((await params).key);
  await getQueryClient().prefetchQuery(trpc.dashboard.service.queryOptions({ key }));
  return (
    <HydrateClient>
      <ServicePage serviceKey={key} />
    </HydrateClient>
  );
}
