// GET /metrics: the director's IPVS table for Prometheus (text format 0.0.4), with node_exporter's ipvs metric
// names and our lvs_* extras (server/metrics/format.ts). The data comes from the agent (op ipvs.metrics), read
// at the moment of the scrape. A Prometheus server scraping every director is the fleet view.
//
// LVSDASH_METRICS_PER_SERVER=0: no per-real-server series (see format.ts for exactly what changes).
// Access (server/auth/guard.ts): `Authorization: Bearer <LVSDASH_METRICS_TOKEN>` (Prometheus' credentials_file)
// or a signed-in session; anything else gets 401.
// Answers 503 with a one-line reason when the agent is not running or IPVS is not loaded, so Prometheus marks
// the target down (up == 0) instead of recording empty data.
import { sharedAgent } from "@/server/api/trpc";
import { requireMetricsAccess } from "@/server/auth/guard";
import { isAgentError } from "@/server/agent/protocol";
import { CONTENT_TYPE, formatMetrics, metricsOptionsFromEnv } from "@/server/metrics/format";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const unavailable = (reason: string) =>
  new Response(`${reason}\n`, { status: 503, headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" } });

export async function GET(request: Request): Promise<Response> {
  const denied = requireMetricsAccess(request);
  if (denied) return denied;
  // The process's one agent connection (the tRPC context's).
  const agent = sharedAgent();
  try {
    const data = await agent.call("ipvs.metrics", {});
    if (!data.available) return unavailable(data.reason);
    return new Response(formatMetrics(data.services, data.totals, metricsOptionsFromEnv()), {
      headers: { "content-type": CONTENT_TYPE, "cache-control": "no-store" },
    });
  } catch (error) {
    if (isAgentError(error)) return unavailable(`agent: ${error.code}: ${error.message}`);
    throw error;
  }
}
