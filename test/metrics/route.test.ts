// app/metrics/route.ts: the exposition over HTTP, fed by an agent answering through the real dispatcher with
// the recorded DR case's totals. The route takes the process's agent client from where the tRPC context keeps
// it (globalThis.lvsdashAgent); the test puts a dispatcher-backed client there.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it } from "vitest";

import { GET } from "@/app/metrics/route";
import { createAgentClient } from "@/server/agent/client";
import { createDispatcher, type OpHandlers } from "@/server/agent/dispatcher";
import type { IpvsMetricsData } from "@/server/agent/protocol";
import { parseProcIpVsStats } from "@/server/ipvs/proc/stats";

import { fakeHandlers } from "../agent/fake-handlers";
import { dest, service } from "../history/helpers";

const totals = parseProcIpVsStats(readFileSync(fileURLToPath(new URL("../fixtures/cases/dr/dr-healthy.proc.ip_vs_stats.txt", import.meta.url)), "utf8")).totals;
const holder = globalThis as unknown as { lvsdashAgent?: unknown };

function agentAnswering(metrics: () => Promise<IpvsMetricsData>) {
  const handlers: OpHandlers = fakeHandlers({
    "ipvs.status": async () => ({ available: false, reason: "unused" }),
    "ipvs.metrics": metrics,
    "host.info": async () => ({ hostname: "director", kernelRelease: "6.1.0-56-amd64", uid: 0, capNetAdmin: true }),
  });
  holder.lvsdashAgent = createAgentClient(createDispatcher(handlers));
}

afterEach(() => {
  delete holder.lvsdashAgent;
  delete process.env.LVSDASH_METRICS_PER_SERVER;
});

// Prometheus' bearer token (server/auth/guard.ts): without it /metrics answers 401 (test/auth/guard.test.ts).
const METRICS_TOKEN = "test-metrics-token-0123456789abcdef";
process.env.LVSDASH_METRICS_TOKEN = METRICS_TOKEN;
const request = () => new Request("http://127.0.0.1:3000/metrics", { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
const traffic = { conns: 10n, inPkts: 56n, outPkts: 0n, inBytes: 3552n, outBytes: 0n };

describe("GET /metrics", () => {
  it("answers the exposition with Prometheus's content type", async () => {
    agentAnswering(async () => ({ available: true, services: [service("192.0.2.100", 80, [dest("192.0.2.11", 80, traffic)])], totals }));
    const res = await GET(request());
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const parsed = parsePrometheusTextFormat(await res.text());
    expect(parsed.find((f) => f.name === "node_ipvs_connections_total")?.metrics[0]?.value).toBe("30");
    expect(parsed.find((f) => f.name === "lvs_backend_incoming_bytes_total")?.metrics[0]?.value).toBe("3552");
  });

  it("honours LVSDASH_METRICS_PER_SERVER=0", async () => {
    process.env.LVSDASH_METRICS_PER_SERVER = "0";
    agentAnswering(async () => ({ available: true, services: [service("192.0.2.100", 80, [dest("192.0.2.11", 80, traffic)])], totals }));
    const text = await (await GET(request())).text();
    expect(text).not.toContain("lvs_backend_");
    expect(text).not.toContain("remote_address");
  });

  it("answers 503 with the reason when IPVS is not loaded or the agent fails", async () => {
    agentAnswering(async () => ({ available: false, reason: "IPVS is not loaded in this kernel" }));
    let res = await GET(request());
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("IPVS is not loaded in this kernel\n");
    agentAnswering(async () => {
      throw new Error("netlink socket closed");
    });
    res = await GET(request());
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(/^agent: internal: ipvs.metrics failed: netlink socket closed/);
  });
});
