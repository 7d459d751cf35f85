import { getQueryClient, HydrateClient, trpc } from "@/app/_trpc/server";
import { ServicePage } from "@/app/services/_components/service-page";

// Kernel state, read per request: never prerendered at build time.
export const dynamic = "force-dynamic";

/** The key comes percent-encoded in the path ("tcp%2F192.0.2.100%3A80"); keys never contain "%" themselves. */
function decodeKey(raw: string): string {
  try {
    return raw.includes("%") ? decodeURIComponent(raw) : raw;
  } catch {
    return raw;
  }
}

export default async function Page({ params }: { params: Promise<{ key: string }> }) {
  const key = decodeKey((await params).key);
  await getQueryClient().prefetchQuery(trpc.dashboard.service.queryOptions({ key }));
  return (
    <HydrateClient>
      <ServicePage serviceKey={key} />
    </HydrateClient>
  );
}
