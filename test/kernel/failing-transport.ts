// The real IPVS transport, except that the nth command that changes something fails as the kernel would
// (ENOMEM): how the real-kernel tests force a failure in the middle of an apply.
import { IPVS_CMD } from "@/server/ipvs/netlink/constants";
import { openIpvsTransport } from "@/server/kernel/genl/ipvs";
import { GenlError, type GenlTransport } from "@/server/kernel/genl/transport";

const WRITES = new Set<number>(
  (["NEW_SERVICE", "SET_SERVICE", "DEL_SERVICE", "NEW_DEST", "SET_DEST", "DEL_DEST", "SET_CONFIG", "NEW_DAEMON", "DEL_DAEMON"] as const).map((c) => IPVS_CMD[c].id),
);

export function failingAt(n: number): { transport: GenlTransport; writes: () => number } {
  const real = openIpvsTransport();
  let writes = 0;
  return {
    writes: () => writes,
    transport: {
      request(cmd, attrs, flags) {
        if (WRITES.has(cmd) && ++writes === n) return Promise.reject(new GenlError("errno", "the kernel rejected the request (ENOMEM)", cmd, 12));
        return real.request(cmd, attrs, flags);
      },
      close: () => real.close(),
    },
  };
}
