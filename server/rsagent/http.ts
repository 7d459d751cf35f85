// The real-server agent's network transport: HTTP, or HTTPS when given a certificate and key, in front of an
// AgentExchange (the dispatcher over RS_OPS). It knows nothing about ops beyond their names in the path.
//
//   POST /v1/ops/<op>   Authorization: Bearer <token>   Content-Type: application/json   body: the op's input
//
// Order of refusals, each before any work: method and path (404/405), the token (401, compared in constant
// time on SHA-256 digests so neither content nor length leaks), content type (415), declared and actual
// body size (413, counted while reading: a client that never stops sending is cut off), JSON (400). Slow
// clients are bounded by headersTimeout/requestTimeout, the number of sockets by maxConnections. A request
// that goes away (socket closed before the reply) aborts its op: rs.apply then rolls back.
import { createHash, randomBytes, timingSafeEqual, X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";

import { decodeLine, encodeLine, errorReply, type AgentErrorCode, type AgentExchange, type AgentReply } from "@/server/agent/protocol";

import { RS_MAX_REQUEST_BYTES, RS_OP_PATH } from "./protocol";

// ---------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------

/** 32 random bytes, base64url: 43 characters. */
export function generateToken(): string {
  return randomBytes(32).toString("base64url");
}

export const MIN_TOKEN_LENGTH = 32;
const TOKEN_RE = /^[A-Za-z0-9_~.+/=-]+$/;

export function checkTokenText(token: string): string {
  const t = token.trim();
  if (t.length < MIN_TOKEN_LENGTH || t.length > 512 || !TOKEN_RE.test(t)) {
    throw new Error(`a token is ${MIN_TOKEN_LENGTH}-512 characters of base64/base64url (generate one: omit it and give --token-file)`);
  }
  return t;
}

/**
 * The token in `path`; when the file does not exist, a new one written there (mode 0600, never overwriting a
 * file that appears meanwhile) and `created: true`, so the caller prints it once.
 */
export async function loadOrCreateToken(path: string): Promise<{ token: string; created: boolean }> {
  try {
    return { token: checkTokenText(await readFile(path, "utf8")), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const token = generateToken();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: "wx" });
  return { token, created: true };
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Constant-time: both sides are hashed to 32 bytes first, so the comparison never depends on lengths. */
export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  const m = /^Bearer ([^\s]+)$/.exec(authorization ?? "");
  const given = m?.[1] ?? "";
  // Always compare, even without a header: the same work either way.
  const same = timingSafeEqual(digest(expected), digest(given));
  return same && given.length > 0;
}

// ---------------------------------------------------------------------------------------------------------
// The listener
// ---------------------------------------------------------------------------------------------------------

export interface RsListenOptions {
  host: string;
  port: number;
  token: string;
  exchange: AgentExchange;
  /** PEM certificate and key: HTTPS. Without them: plain HTTP (the token then crosses the network in clear). */
  tls?: { cert: string; key: string };
  maxRequestBytes?: number;
  /** For the log: one line per refused or answered request. */
  log?: (line: string) => void;
}

export interface RsListener {
  url: string;
  /** SHA-256 fingerprint of the certificate ("AB:CD:..."), for pairing with a self-signed one; null on HTTP. */
  fingerprint: string | null;
  close(): Promise<void>;
}

const STATUS: Record<AgentErrorCode, number> = {
  unknown_op: 404,
  invalid_input: 400,
  bad_request: 400,
  too_large: 413,
  timeout: 504,
  unavailable: 503,
  permission_denied: 401,
  internal: 500,
};

function send(res: ServerResponse, status: number, reply: AgentReply, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = encodeLine({ id: null, ...reply });
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...extra,
  });
  res.end(body);
}

/** Reads the body up to `max` bytes; null when it is longer (the connection is then closed). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.pause();
        resolve(null);
        return;
      }
      parts.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(parts, size)));
    req.on("error", reject);
  });
}

export async function listenRsAgent(options: RsListenOptions): Promise<RsListener> {
  const { token, exchange } = options;
  const max = options.maxRequestBytes ?? RS_MAX_REQUEST_BYTES;
  const log = options.log ?? (() => undefined);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const peer = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
    const url = req.url ?? "";
    const op = url.startsWith(RS_OP_PATH) ? url.slice(RS_OP_PATH.length) : null;
    if (op === null || !/^[a-z]+\.[a-z]+$/.test(op)) {
      req.resume();
      return send(res, 404, errorReply("unknown_op", "not found: POST /v1/ops/<op>"));
    }
    if (req.method !== "POST") {
      req.resume();
      return send(res, 405, errorReply("bad_request", "use POST"), { allow: "POST" });
    }
    if (!tokenMatches(token, req.headers.authorization)) {
      log(`refused ${op} from ${peer}: ${req.headers.authorization ? "wrong token" : "no token"}`);
      // Do not read what an unauthenticated client sends: answer and close.
      return send(res, 401, errorReply("permission_denied", "missing or wrong bearer token"), {
        "www-authenticate": 'Bearer realm="lvs-dashboard rs-agent"',
        connection: "close",
      });
    }
    if (!/^application\/json(;|$)/.test(req.headers["content-type"] ?? "")) {
      req.resume();
      return send(res, 415, errorReply("bad_request", "Content-Type must be application/json"));
    }
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > max) {
      return send(res, 413, errorReply("too_large", `request body longer than ${max} bytes`), { connection: "close" });
    }
    const body = await readBody(req, max);
    if (body === null) {
      return send(res, 413, errorReply("too_large", `request body longer than ${max} bytes`), { connection: "close" });
    }
    let input: unknown;
    try {
      input = body.length === 0 ? {} : decodeLine(body.toString("utf8"));
    } catch {
      return send(res, 400, errorReply("bad_request", "the body is not JSON"));
    }
    // The requester going away (socket closed before we answered) aborts the op.
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const started = Date.now();
    const reply = await exchange({ op, input }, gone.signal);
    log(`${op} from ${peer}: ${reply.ok ? "ok" : reply.error.code} in ${Date.now() - started} ms`);
    send(res, reply.ok ? 200 : STATUS[reply.error.code], reply);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      log(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      send(res, 500, errorReply("internal", "internal error"));
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: "TLSv1.2" }, listener)
    : createHttpServer(listener);
  server.headersTimeout = 10_000;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  server.maxConnections = 64;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls ? "https" : "http"}://${host}:${address.port}`,
    fingerprint: options.tls ? new X509Certificate(options.tls.cert).fingerprint256 : null,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
