// Agent handlers for tests that talk to a dispatcher: every op in AGENT_OPS answers with an error saying that
// this test does not fake it, except those the test gives. New ops need no change here.
import type { OpHandlers } from "@/server/agent/dispatcher";
import { AGENT_OPS, type OpName } from "@/server/agent/protocol";

export function fakeHandlers(given: Partial<OpHandlers>): OpHandlers {
  const all: Record<string, unknown> = {};
  for (const op of Object.keys(AGENT_OPS) as OpName[]) {
    all[op] =
      given[op] ??
      (async () => {
        throw new Error(`${op} is not faked in this test`);
      });
  }
  return all as OpHandlers;
}
