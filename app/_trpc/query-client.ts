import { QueryClient } from "@tanstack/react-query";

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Kernel state changes under us; the pages poll, so a short staleTime avoids refetch storms on focus.
        staleTime: 1000,
        // An operator wants to see the failure now, not after three silent retries.
        retry: false,
      },
    },
  });
}
