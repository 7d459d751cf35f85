// POST /api/upload: a pcap file analysed offline, as `lvsdash analyze` does it, in a worker thread of the web
// server (server/diagnostics/live-upload.ts). The body is multipart/form-data with the file as `pcap` and,
// optionally, `rules`: the `ipvsadm-save -n` text of the director it was captured on (without it, the VIPs and
// real servers are this director's, from the agent). The body is read with a hard size limit before parsing.
import type { AgentClient } from "@/server/agent/client";
import { isAgentError } from "@/server/agent/protocol";
import { MAX_UPLOAD_BYTES, UploadError, type UploadAnalysis, type UploadSite } from "@/server/diagnostics/live-upload";

/** Room for the multipart framing and the rules text around the file. */
const MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 2 * 1024 * 1024;
const MAX_RULES_BYTES = 1024 * 1024;

export type UploadReply = { ok: true; file: { name: string; bytes: number }; analysis: UploadAnalysis } | { ok: false; message: string };

function reply(status: number, body: UploadReply): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store" } });
}

const MB = (n: number) => `${Math.round(n / 1024 / 1024)} MB`;

/** The request body, or null once it grows past `max` (the rest is not read). */
async function readLimited(req: Request, max: number): Promise<Uint8Array | null> {
  if (req.body === null) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface UploadDeps {
  agent: AgentClient;
  analyze: (bytes: Uint8Array, source: UploadSite) => Promise<UploadAnalysis>;
}

export async function uploadResponse(req: Request, deps: UploadDeps): Promise<Response> {
  const tooLarge = () => reply(413, { ok: false, message: `the file is larger than ${MB(MAX_UPLOAD_BYTES)}: cut it with editcap -c or tcpdump -c, or run lvsdash analyze on the director` });
  const type = req.headers.get("content-type") ?? "";
  if (!type.startsWith("multipart/form-data")) return reply(415, { ok: false, message: "send the capture as multipart/form-data with the file in the field pcap" });
  if (Number(req.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return tooLarge();
  const body = await readLimited(req, MAX_BODY_BYTES);
  if (body === null) return tooLarge();
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": type } }).formData();
  } catch {
    return reply(400, { ok: false, message: "the upload is not a readable form: send the file in the field pcap" });
  }
  const file = form.get("pcap");
  if (!(file instanceof Blob) || file.size === 0) return reply(400, { ok: false, message: "no capture file in the upload (field pcap)" });
  if (file.size > MAX_UPLOAD_BYTES) return tooLarge();
  const rules = form.get("rules");
  const rulesText = typeof rules === "string" ? rules.trim() : "";
  if (rulesText.length > MAX_RULES_BYTES) return reply(413, { ok: false, message: "the rules text is larger than 1 MB" });

  let source: UploadSite;
  if (rulesText !== "") source = { rules: rulesText };
  else {
    try {
      source = { site: await deps.agent.call("diagnostics.site", {}) };
    } catch (error) {
      const message = isAgentError(error) ? error.message : "the agent failed";
      return reply(503, { ok: false, message: `${message}. Without the agent, paste the director's ipvsadm-save -n output next to the file` });
    }
  }
  const name = file instanceof File ? file.name.slice(0, 200) : "capture.pcap";
  try {
    const analysis = await deps.analyze(new Uint8Array(await file.arrayBuffer()), source);
    return reply(200, { ok: true, file: { name, bytes: file.size }, analysis });
  } catch (error) {
    if (error instanceof UploadError) return reply(422, { ok: false, message: error.message });
    console.error("upload analysis failed:", error);
    return reply(500, { ok: false, message: "internal error in lvs-dashboard: the server log has the details" });
  }
}
