// The web server's side of the agent socket: an AgentExchange over one long-lived Unix socket connection,
// and the typed AgentClient the tRPC routers call.
import { createConnection, type Socket } from "node:net";

import { createLineSplitter } from "./lines";
import {
  AGENT_OPS,
  AgentError,
  decodeLine,
  encodeLine,
  errorReply,
  isOpName,
  MAX_REPLY_BYTES,
  MAX_REQUEST_BYTES,
  replyEnvelope,
  type AgentErrorCode,
  type AgentExchange,
  type AgentReply,
  type OpInput,
  type OpName,
  type OpOutput,
} from "./protocol";

// ---------------------------------------------------------------------------------------------------------
// The typed client
// ---------------------------------------------------------------------------------------------------------

export interface AgentClient {
  /** Runs one op; an error reply is thrown as AgentError with its code. */
  call<K extends OpName>(op: K, input: OpInput<K>): Promise<OpOutput<K>>;
}

export function createAgentClient(exchange: AgentExchange): AgentClient {
  return {
    async call(op, input) {
      const reply = await exchange({ op, input });
      if (!reply.ok) throw new AgentError(reply.error.code, reply.error.message);
      // The agent is the other half of this program, built from the same AGENT_OPS: its output is trusted.
      return reply.output as OpOutput<typeof op>;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The socket exchange
// ---------------------------------------------------------------------------------------------------------

export interface SocketExchangeOptions {
  path: string;
  /** Waits this long for any reply; by default the op's own timeout plus 2 s (the agent reports its own timeouts). */
  timeoutMs?: number;
  maxReplyBytes?: number;
}

export interface SocketExchange {
  exchange: AgentExchange;
  /** Closes the connection; pending requests are answered `unavailable`. */
  close(): void;
}

const KNOWN_CODES: ReadonlySet<string> = new Set<AgentErrorCode>([
  "unknown_op",
  "invalid_input",
  "bad_request",
  "too_large",
  "timeout",
  "unavailable",
  "permission_denied",
  "internal",
]);

/** A code from a newer agent this client does not know yet is reported as `internal`. */
function knownCode(code: string): AgentErrorCode {
  return KNOWN_CODES.has(code) ? (code as AgentErrorCode) : "internal";
}

const DEFAULT_TIMEOUT_MS = 10_000;
const GRACE_MS = 2_000;

export function createSocketExchange(options: SocketExchangeOptions): SocketExchange {
  const { path } = options;
  const maxReplyBytes = options.maxReplyBytes ?? MAX_REPLY_BYTES;
  const pending = new Map<number, (reply: AgentReply) => void>();
  let nextId = 1;
  // The one connection, and what connecting gave: null once connected, else the failure to answer with.
  // Cleared when the socket closes or a connect fails, so the next request connects again.
  let connection: { socket: Socket; failure: Promise<AgentReply | null> } | null = null;

  const failAll = (reply: AgentReply) => {
    for (const resolve of pending.values()) resolve(reply);
    pending.clear();
  };
  const lost = () =>
    errorReply("unavailable", `the connection to the lvs-dashboard agent (socket ${path}) closed before it answered`);

  const connect = (): NonNullable<typeof connection> => {
    const socket = createConnection(path);
    const failure = new Promise<AgentReply | null>((resolve) => {
      const onConnectError = (error: NodeJS.ErrnoException) => resolve(connectFailure(path, error));
      socket.once("error", onConnectError);
      socket.once("connect", () => {
        socket.off("error", onConnectError);
        socket.on("error", () => socket.destroy());
        resolve(null);
      });
    });
    socket.on("close", () => {
      if (connection?.socket === socket) connection = null;
      failAll(lost());
    });
    const splitter = createLineSplitter(
      maxReplyBytes,
      (line) => onReplyLine(line),
      () => {
        failAll(errorReply("too_large", `the agent sent a reply longer than ${maxReplyBytes} bytes`));
        socket.destroy();
      },
    );
    socket.on("data", (chunk: Buffer) => splitter.push(chunk));
    return { socket, failure };
  };

  const onReplyLine = (line: string) => {
    let parsed;
    try {
      parsed = replyEnvelope.safeParse(decodeLine(line));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) return failAll(errorReply("internal", "the agent sent a line that is not a reply"));
    const message = parsed.data;
    const reply: AgentReply = message.ok
      ? { ok: true, output: message.output }
      : errorReply(knownCode(message.error.code), message.error.message);
    // id null: the agent could not read one of our lines, so it cannot say which; it hangs up after too_large.
    if (message.id === null) return failAll(reply);
    const resolve = pending.get(message.id);
    pending.delete(message.id);
    resolve?.(reply);
  };

  const exchange: AgentExchange = async (request) => {
    const id = nextId++;
    const line = encodeLine({ id, op: request.op, input: request.input });
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) {
      return errorReply("too_large", `request for ${request.op} is longer than ${MAX_REQUEST_BYTES} bytes`);
    }
    connection ??= connect();
    const { socket, failure } = connection;
    const failed = await failure;
    if (failed) return failed;
    if (socket.destroyed) return lost();
    const timeoutMs =
      options.timeoutMs ?? (isOpName(request.op) ? AGENT_OPS[request.op].timeoutMs + GRACE_MS : DEFAULT_TIMEOUT_MS);
    return new Promise<AgentReply>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(errorReply("timeout", `the agent did not answer ${request.op} within ${timeoutMs} ms (socket ${path})`));
      }, timeoutMs);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      socket.write(line);
    });
  };

  return {
    exchange,
    close() {
      connection?.socket.destroy();
      connection = null;
    },
  };
}

/** What a failed connect() means for an operator. */
function connectFailure(path: string, error: NodeJS.ErrnoException): AgentReply {
  switch (error.code) {
    case "ENOENT":
    case "ECONNREFUSED":
      return errorReply(
        "unavailable",
        `the lvs-dashboard agent is not running (socket ${path}): start it with npm start`,
      );
    case "EACCES":
    case "EPERM":
      return errorReply(
        "permission_denied",
        `no permission to connect to the lvs-dashboard agent (socket ${path}): the web server must run in the ` +
          "socket's group, as npm start arranges",
      );
    default:
      return errorReply("unavailable", `cannot connect to the lvs-dashboard agent (socket ${path}): ${error.message}`);
  }
}
