// GET /api/evidence/<id>: a finding's evidence packets as a pcap download (respond.ts has the rules), for any
// signed-in user (server/auth/guard.ts).
import { sharedAgent } from "@/server/api/trpc";
import { requireSession } from "@/server/auth/guard";

import { evidenceResponse } from "../respond";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const denied = requireSession(req, "viewer");
  if (denied) return denied;
  const { id } = await params;
  return evidenceResponse(id, sharedAgent());
}
