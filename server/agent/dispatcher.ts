// The op dispatcher: the agent's whole decision about a request, apart from how it arrived. It refuses names
// that are not in the op table and inputs that fail the op's schema, runs the handler under the op's deadline,
// and turns every outcome into a reply. Transports (the Unix socket server, the real-server agent's HTTP
// listener in server/rsagent/) only frame bytes and call it. createDispatcher serves AGENT_OPS;
// createOpDispatcher serves any table built with op() (the real-server agent's RS_OPS).
import { z } from "zod";

import {
  AGENT_OPS,
  errorReply,
  isAgentError,
  type AgentExchange,
  type AgentReply,
  type OpName,
  type OpOutput,
  type OpParsedInput,
  type OpSpec,
} from "./protocol";

export interface OpContext {
  /** Aborted when the op's deadline passes or the requester goes away: long ops should stop then. */
  signal: AbortSignal;
}

/** One function per op. Throw AgentError to answer with a specific code; anything else becomes `internal`. */
export type OpHandlers = {
  [K in OpName]: (input: OpParsedInput<K>, context: OpContext) => Promise<OpOutput<K>>;
};

export interface DispatcherOptions<Name extends string = OpName> {
  /** Called with errors that became `internal` replies (the reply carries only their message). */
  onInternalError?: (op: Name, error: unknown) => void;
}

/** An op table: names to specs made with op() (protocol.ts). */
export type OpTable = Record<string, OpSpec<z.ZodType, unknown>>;

/** One handler per op of `T`, typed by its schema's output and the op's declared output. */
export type TableHandlers<T extends OpTable> = {
  [K in keyof T]: (
    input: z.output<T[K]["input"]>,
    context: OpContext,
  ) => Promise<T[K] extends OpSpec<z.ZodType, infer O> ? O : never>;
};

export function createDispatcher(handlers: OpHandlers, options: DispatcherOptions = {}): AgentExchange {
  return createOpDispatcher(AGENT_OPS, handlers, options);
}

export function createOpDispatcher<T extends OpTable>(
  table: T,
  handlers: TableHandlers<T>,
  options: DispatcherOptions<keyof T & string> = {},
): AgentExchange {
  // Own keys only: "constructor" or "__proto__" are not ops (isOpName does the same for AGENT_OPS).
  const known = (name: string): name is keyof T & string => Object.hasOwn(table, name);
  return async (request, requesterSignal) => {
    const { op, input } = request;
    if (!known(op)) return errorReply("unknown_op", `unknown op ${JSON.stringify(op)}`);
    const spec = table[op]!;
    const parsed = spec.input.safeParse(input);
    if (!parsed.success) {
      return errorReply("invalid_input", `invalid input for ${op}: ${z.prettifyError(parsed.error)}`);
    }

    const deadline = new AbortController();
    const signal = requesterSignal ? AbortSignal.any([deadline.signal, requesterSignal]) : deadline.signal;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<AgentReply>((resolve) => {
      timer = setTimeout(() => {
        deadline.abort();
        resolve(errorReply("timeout", `${op} did not finish within ${spec.timeoutMs} ms`));
      }, spec.timeoutMs);
    });
    // The handler table is indexed by a union key, so TypeScript cannot pair this handler with this input;
    // the schema above is the one the handler was written for.
    const handler = handlers[op] as (input: unknown, context: OpContext) => Promise<unknown>;
    const ran = (async (): Promise<AgentReply> => {
      try {
        return { ok: true, output: await handler(parsed.data, { signal }) };
      } catch (error) {
        if (isAgentError(error)) return errorReply(error.code, error.message);
        options.onInternalError?.(op, error);
        return errorReply("internal", `${op} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    })();
    try {
      return await Promise.race([ran, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };
}
