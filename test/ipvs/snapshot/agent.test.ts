// The ipvs.snapshot agent op and tRPC query: replies recorded from Linux 6.1 replayed through the real transport,
// across the agent's line encoding (bigint as {"$bigint":...}) and out of the router as JSON-safe data.
import { describe, expect, it } from "vitest";

import { createAgentClient } from "@/server/agent/client";
import { createDispatcher, type OpHandlers } from "@/server/agent/dispatcher";
import { decodeLine, encodeLine, type AgentExchange, type AgentReply } from "@/server/agent/protocol";
import { ipvsRouter } from "@/server/api/routers/ipvs";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { ipvsSnapshotToJson, readIpvsSnapshotData, type IpvsSnapshotData } from "@/server/ipvs/snapshot/agent";
import { snapshotFromJson, type SnapshotJson } from "@/server/ipvs/snapshot/json";
import { GenlError, fakeGenlTransport } from "@/server/kernel/genl/transport";
import { signedIn } from "../../auth/context";
import { fakeKernel, recordedSnapshot, recordedTableClient, state } from "./helpers";

// Only this router: the app's root router joins every domain's, some of them work in progress.
const createCaller = createCallerFactory(createTRPCRouter({ ipvs: ipvsRouter }));

/** The agent's dispatcher with only ipvs.snapshot, behind the line encoding the Unix socket uses. */
function agentOver(open: () => IpvsClient): AgentExchange {
  // only ipvs.snapshot is asked for; the dispatcher answers unknown_op for the others
  const handlers: Partial<OpHandlers> = { "ipvs.snapshot": (_i, { signal }) => readIpvsSnapshotData(open, signal) };
  const dispatch = createDispatcher(handlers as OpHandlers);
  return async (request) => {
    const reply = await dispatch(request);
    const back = decodeLine(encodeLine({ id: 1, ...reply }).trimEnd()) as { id: number } & AgentReply;
    const { id: _id, ...rest } = back;
    return rest as AgentReply;
  };
}

describe("readIpvsSnapshotData", () => {
  it("reads the whole director: info, timeouts, services with real servers and 64-bit stats, daemons", async () => {
    const data = await readIpvsSnapshotData(() => recordedTableClient().client);
    expect(data.available).toBe(true);
    if (!data.available) return;
    const expected = await recordedSnapshot();
    expect({ ...data.snapshot, takenAt: 0 }).toEqual({ ...expected, takenAt: 0 });
    expect(data.snapshot.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(data.snapshot.services.length).toBeGreaterThan(0);
  });

  it("empties attributes it has no name for (bytes do not cross the agent's JSON wire)", async () => {
    const t = state("-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 1\n");
    t.services[0]!.unknown = [{ type: 99, nested: false, value: new Uint8Array([1, 2, 3, 4]) }];
    t.services[0]!.destinations[0]!.unknown = [{ type: 98, nested: false, value: new Uint8Array([5, 6, 7, 8]) }];
    const direct = await new IpvsClient(fakeKernel(() => t).transport).snapshot();
    expect(direct[0]!.unknown).toHaveLength(1); // the fake does send them
    const data = await readIpvsSnapshotData(() => new IpvsClient(fakeKernel(() => t).transport));
    if (!data.available) throw new Error("expected a snapshot");
    expect(data.snapshot.services[0]!.unknown).toEqual([]);
    expect(data.snapshot.services[0]!.destinations[0]!.unknown).toEqual([]);
  });

  it("answers { available: false } when the IPVS family is not registered", async () => {
    const transport = fakeGenlTransport(() => {
      throw new GenlError("family-missing", 'generic netlink family "IPVS" is not registered in this kernel', undefined, 2);
    });
    const data = await readIpvsSnapshotData(() => new IpvsClient(transport));
    expect(data).toEqual({ available: false, reason: "IPVS is not loaded in this kernel: modprobe ip_vs" });
  });

  it("passes other failures on, and closes the client either way", async () => {
    let closed = 0;
    const transport = fakeGenlTransport(() => {
      throw new GenlError("permission", "permission denied", 1, 1);
    });
    const open = () => {
      const c = new IpvsClient({ ...transport, request: transport.request, close: () => void closed++ });
      return c;
    };
    await expect(readIpvsSnapshotData(open)).rejects.toMatchObject({ name: "IpvsError", kind: "permission" });
    expect(closed).toBeGreaterThan(0);
  });
});

describe("ipvs.snapshot through the agent and tRPC", () => {
  it("keeps u64 counters exact across the agent wire and returns them as decimal strings from tRPC", async () => {
    const exchange = agentOver(() => recordedTableClient().client);
    const viaAgent = (await createAgentClient(exchange).call("ipvs.snapshot", {})) as IpvsSnapshotData;
    if (!viaAgent.available) throw new Error("expected a snapshot");
    const udp = viaAgent.snapshot.services.find((s) => "protocol" in s.service && s.service.protocol === "udp")!;
    expect(udp.stats).toMatchObject({ conns: 20n, inPkts: 20n, inBytes: 1840n, width: 64 });

    const caller = createCaller(signedIn({ agent: createAgentClient(exchange), role: "viewer" }));
    const out = await caller.ipvs.snapshot();
    // plain JSON: survives JSON.stringify unchanged, and reads back to the agent's snapshot
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
    if (!out.available) throw new Error("expected a snapshot");
    const udpJson = out.snapshot.services.find((s) => "protocol" in s.service && s.service.protocol === "udp")!;
    expect(udpJson.stats).toMatchObject({ conns: "20", inPkts: "20", inBytes: "1840", width: 64 });
    expect({ ...snapshotFromJson(out.snapshot as SnapshotJson), takenAt: 0 }).toEqual({ ...viaAgent.snapshot, takenAt: 0 });
  });

  it("passes { available: false } through as data", async () => {
    expect(ipvsSnapshotToJson({ available: false, reason: "IPVS is not loaded" })).toEqual({ available: false, reason: "IPVS is not loaded" });
  });

  it("asks the agent for exactly ipvs.snapshot with no input", async () => {
    const requests: unknown[] = [];
    const agent = createAgentClient(async (r) => {
      requests.push(r);
      return { ok: true, output: { available: false, reason: "x" } };
    });
    const caller = createCaller(signedIn({ agent, role: "viewer" }));
    await caller.ipvs.snapshot();
    expect(requests).toEqual([{ op: "ipvs.snapshot", input: {} }]);
  });
});
