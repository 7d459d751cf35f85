// The one adapter from domain errors to tRPC errors. Routers throw whatever their domain function throws;
// the procedure middleware in trpc.ts passes every failure through toTRPCError. Errors we know get a tRPC
// code and an operator-readable message; anything else becomes a generic message, with the original kept as
// `cause` for the server log (route.ts logs it) and never sent to the browser.
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";

import { isAgentError, type AgentErrorCode } from "@/server/agent/protocol";

export const GENERIC_MESSAGE = "internal error in lvs-dashboard: the server log has the details";

/** How each agent error reaches the browser: a tRPC code, and whether the agent's message is shown. */
const AGENT_ERRORS: Record<AgentErrorCode, { code: TRPC_ERROR_CODE_KEY; message: (agentMessage: string) => string }> = {
  // Not running or not reachable: the agent's message names the socket and says how to start it.
  unavailable: { code: "SERVICE_UNAVAILABLE", message: (m) => m },
  permission_denied: { code: "SERVICE_UNAVAILABLE", message: (m) => m },
  timeout: { code: "GATEWAY_TIMEOUT", message: (m) => m },
  invalid_input: { code: "BAD_REQUEST", message: (m) => m },
  too_large: { code: "PAYLOAD_TOO_LARGE", message: (m) => m },
  unknown_op: {
    code: "NOT_IMPLEMENTED",
    message: (m) => `the agent is older than the web server (${m}): restart both with npm start`,
  },
  // Our own bugs or the agent's: nothing an operator can act on in the message.
  bad_request: { code: "INTERNAL_SERVER_ERROR", message: () => GENERIC_MESSAGE },
  internal: { code: "INTERNAL_SERVER_ERROR", message: () => "the agent failed: its log has the details" },
};

export function toTRPCError(error: unknown): TRPCError {
  if (isAgentError(error)) {
    const mapped = AGENT_ERRORS[error.code];
    return new TRPCError({ code: mapped.code, message: mapped.message(error.message), cause: error });
  }
  if (error instanceof TRPCError) return error;
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: GENERIC_MESSAGE, cause: error });
}
