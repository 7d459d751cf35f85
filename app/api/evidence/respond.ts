// The evidence download: a finding's packets as a pcap, from the agent's capture session. The id in the URL is
// validated against the one form evidence ids have ("<8 hex>-<number>", server/diagnostics/live.ts) before
// anything else, and the file name is fixed text around it: a URL can neither name a file on the agent nor
// put anything of its own into the Content-Disposition header.
import type { AgentClient } from "@/server/agent/client";
import { isAgentError } from "@/server/agent/protocol";
import { evidenceFileName, parseEvidenceId } from "@/server/diagnostics/live";

export const PCAP_TYPE = "application/vnd.tcpdump.pcap";

function problem(status: number, message: string): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" },
  });
}

export async function evidenceResponse(id: string, agent: AgentClient): Promise<Response> {
  const parsed = parseEvidenceId(id);
  const fileName = evidenceFileName(id);
  if (parsed === null || fileName === null) return problem(400, "not an evidence id: evidence links look like /api/evidence/0a1b2c3d-4");
  let file;
  try {
    file = await agent.call("diagnostics.evidence", parsed);
  } catch (error) {
    if (isAgentError(error)) {
      const status = error.code === "timeout" ? 504 : error.code === "unavailable" || error.code === "permission_denied" ? 503 : 502;
      return problem(status, status === 502 ? "the agent failed to give the evidence: its log has the details" : error.message);
    }
    console.error("evidence download failed:", error);
    return problem(500, "internal error in lvs-dashboard: the server log has the details");
  }
  if (!file.found) return problem(404, file.reason);
  const bytes = Buffer.from(file.pcapBase64, "base64");
  return new Response(bytes, {
    status: 200,
    headers: {
      "Content-Type": PCAP_TYPE,
      "Content-Length": String(bytes.length),
      "Content-Disposition": `attachment; filename="${fileName}"`,
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
    },
  });
}
