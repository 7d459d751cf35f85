// POST /api/upload: offline analysis of an uploaded pcap (respond.ts has the rules), in a worker thread, for any
// signed-in user from the dashboard's own pages (server/auth/guard.ts checks the session and the Origin).
import { sharedAgent } from "@/server/api/trpc";
import { requireSession } from "@/server/auth/guard";
import { analyzeUploadInWorker } from "@/server/diagnostics/live-upload";

import { uploadResponse } from "./respond";

export const dynamic = "force-dynamic";

export async function POST(req: Request): Promise<Response> {
  const denied = requireSession(req, "viewer");
  if (denied) return denied;
  return uploadResponse(req, { agent: sharedAgent(), analyze: (bytes, source) => analyzeUploadInWorker(bytes, source) });
}
