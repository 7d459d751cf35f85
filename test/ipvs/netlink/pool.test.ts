// GenlTransportPool and the snapshot's window of destination dumps: requests spread over the members, results
// in the services' order whatever order the dumps finish in, and the first failure ends the snapshot.
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder } from "@/server/kernel/genl/attrs";
import { GenlError, GenlTransportPool, type GenlReply, type GenlTransport } from "@/server/kernel/genl/transport";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { encodeDest, encodeService } from "@/server/ipvs/netlink/codec";
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_SVC_ATTR } from "@/server/ipvs/netlink/constants";

const PORTS = Array.from({ length: 20 }, (_, i) => i + 1);
const svc = (port: number) => ({ family: "inet" as const, protocol: "tcp" as const, address: "192.0.2.1", port });

/** A member that answers like the kernel after `delay(port)` ms, counting what it was given. */
function member(delay: (port: number) => number, failPort?: number): GenlTransport & { served: number; maxInFlight: number } {
  let inFlight = 0;
  const m = {
    served: 0,
    maxInFlight: 0,
    async request(cmd: number, attrs: Uint8Array): Promise<GenlReply[]> {
      m.served++;
      inFlight++;
      m.maxInFlight = Math.max(m.maxInFlight, inFlight);
      try {
        if (cmd === IPVS_CMD.GET_SERVICE.id) {
          return PORTS.map((p) => {
            const e = new AttrEncoder();
            encodeService(e, { service: svc(p), scheduler: "rr" });
            return { cmd: IPVS_CMD.NEW_SERVICE.id, version: 1, attrs: e.finish() };
          });
        }
        // GET_DEST: the port of the service asked for picks the delay and the destination's port.
        const top = new AttrCursor(attrs);
        let port = 0;
        while (top.next()) {
          if (top.type !== IPVS_CMD_ATTR.SERVICE.id) continue;
          const c = top.nested();
          while (c.next()) if (c.type === IPVS_SVC_ATTR.PORT.id) port = c.be16();
        }
        await new Promise((r) => setTimeout(r, delay(port)));
        if (port === failPort) throw new GenlError("errno", "the kernel rejected the request (EINVAL)", cmd, 22);
        const e = new AttrEncoder();
        encodeDest(e, { address: "198.51.100.1", port: 1000 + port, addressFamily: "inet", forward: "route", weight: 1 });
        return [{ cmd: IPVS_CMD.NEW_DEST.id, version: 1, attrs: e.finish() }];
      } finally {
        inFlight--;
      }
    },
    close() {},
  };
  return m;
}

describe("GenlTransportPool + IpvsClient.snapshot", () => {
  it("overlaps destination dumps over the members and keeps the services' order", async () => {
    const a = member((p) => 25 - p);
    const b = member((p) => 25 - p);
    const snap = await new IpvsClient(new GenlTransportPool([a, b])).snapshot();
    expect(snap.map((s) => (s.service as { port: number }).port)).toEqual(PORTS);
    expect(snap.map((s) => s.destinations.map((d) => d.port))).toEqual(PORTS.map((p) => [1000 + p]));
    expect(a.served + b.served).toBe(21);
    expect(Math.min(a.served, b.served)).toBeGreaterThanOrEqual(8);
    expect(a.maxInFlight).toBeGreaterThanOrEqual(2);
  });

  it("stops at the first failed dump and reports it", async () => {
    const a = member(() => 5, 3);
    const client = new IpvsClient(new GenlTransportPool([a]));
    await expect(client.snapshot()).rejects.toMatchObject({ name: "IpvsError", kind: "invalid" });
    await new Promise((r) => setTimeout(r, 50));
    expect(a.served).toBeLessThan(21);
  });
});
