// The dashboard's side of a real-server agent: a typed client over HTTP(S) with a bearer token, timeouts and
// a reply size limit. Every failure is an AgentError with the director agent's codes (server/agent/protocol.ts),
// so the routers map them the same way; a refused token is `permission_denied`.
//
//   const rs = createRsAgentClient({ url: "http://192.0.2.11:9443", token });
//   const facts = await rs.call("rs.facts", {});
//
// HTTPS: with `fingerprint` (the SHA-256 the rs-agent prints at start, "AB:CD:..."), the certificate is pinned
// to it and no CA is asked (self-signed certificates work); without it, the system's CAs decide. Either way
// the token is sent only after the certificate passed.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";

import { AgentError, decodeLine, errorReply, replyEnvelope, type AgentErrorCode, type AgentReply } from "@/server/agent/protocol";
import {
  RS_MAX_REPLY_BYTES,
  RS_MAX_REQUEST_BYTES,
  RS_OP_PATH,
  RS_OPS,
  type RsOpInput,
  type RsOpName,
  type RsOpOutput,
} from "@/server/rsagent/protocol";

export interface RsAgentEndpoint {
  /** http(s)://host:port, nothing else (see parseAgentUrl). */
  url: string;
  token: string;
  /** HTTPS only: the certificate's SHA-256 fingerprint to pin. */
  fingerprint?: string | null;
}

export interface RsAgentClientOptions extends RsAgentEndpoint {
  /** Waits this long for a reply; by default the op's own timeout plus 2 s (the rs-agent reports its own). */
  timeoutMs?: number;
  maxReplyBytes?: number;
}

export interface RsAgentClient {
  call<K extends RsOpName>(op: K, input: RsOpInput<K>, signal?: AbortSignal): Promise<RsOpOutput<K>>;
}

const GRACE_MS = 2_000;
const KNOWN_CODES = new Set<string>(["unknown_op", "invalid_input", "bad_request", "too_large", "timeout", "unavailable", "permission_denied", "internal"]);

/** An rs-agent address: http or https, a host (IPv4, [IPv6] or a name) and a port; no path, user or query. */
export function parseAgentUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(text)} (expected http://192.0.2.11:9443)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("an rs-agent URL is http:// or https://");
  if (url.username || url.password) throw new Error("put the token in the token field, not in the URL");
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) throw new Error("an rs-agent URL has no path, query or fragment");
  if (!url.hostname) throw new Error("an rs-agent URL needs a host");
  return url;
}

/** "ab:cd..." or "ABCD..." -> "AB:CD:..."; null when it is not 32 hex bytes. */
export function normalizeFingerprint(text: string): string | null {
  const hex = text.replace(/:/g, "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return null;
  return hex.match(/../g)!.join(":");
}

/** A TLS connection whose certificate has the pinned SHA-256 fingerprint, or the reason there is none. */
function connectPinned(host: string, port: number, pin: string, timeoutMs: number): Promise<TLSSocket | string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no TLS handshake within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const got = socket.getPeerCertificate().fingerprint256;
      if (got === pin) return resolve(socket);
      socket.destroy();
      resolve(`its certificate's fingerprint ${got} is not the paired ${pin}`);
    });
    socket.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === "ECONNREFUSED" ? "nothing listens there (is lvsdash rs-agent running?)" : e.message);
    });
  });
}

async function exchangeHttp(options: RsAgentClientOptions, op: string, input: unknown, timeoutMs: number, signal?: AbortSignal): Promise<AgentReply> {
  const url = parseAgentUrl(options.url);
  const body = JSON.stringify(input ?? {});
  if (Buffer.byteLength(body) > RS_MAX_REQUEST_BYTES) return errorReply("too_large", `request for ${op} is longer than ${RS_MAX_REQUEST_BYTES} bytes`);
  const maxReply = options.maxReplyBytes ?? RS_MAX_REPLY_BYTES;
  const pin = options.fingerprint ? normalizeFingerprint(options.fingerprint) : null;
  const where = `${url.protocol}//${url.host}`;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  let pinned: TLSSocket | null = null;
  if (url.protocol === "https:" && pin) {
    const got = await connectPinned(host, port, pin, timeoutMs);
    if (typeof got === "string") return errorReply("unavailable", `cannot reach the rs-agent at ${where}: ${got}`);
    pinned = got;
  }

  return new Promise<AgentReply>((resolve) => {
    let settled = false;
    const done = (reply: AgentReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(reply);
    };
    const common = {
      method: "POST",
      host,
      port,
      path: `${RS_OP_PATH}${op}`,
      headers: {
        authorization: `Bearer ${options.token}`,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      },
      agent: false as const,
    };
    const onResponse = (res: IncomingMessage) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxReply) {
          done(errorReply("too_large", `the rs-agent at ${where} sent a reply longer than ${maxReply} bytes`));
          req.destroy();
          return;
        }
        parts.push(chunk);
      });
      res.on("end", () => {
        if (res.statusCode === 401) return done(errorReply("permission_denied", `the rs-agent at ${where} refused the token (401)`));
        let parsed;
        try {
          parsed = replyEnvelope.safeParse(decodeLine(Buffer.concat(parts, size).toString("utf8")));
        } catch {
          parsed = null;
        }
        if (!parsed?.success) return done(errorReply("internal", `${where} answered HTTP ${res.statusCode} with something that is not an rs-agent reply`));
        const m = parsed.data;
        done(m.ok ? { ok: true, output: m.output } : errorReply(KNOWN_CODES.has(m.error.code) ? (m.error.code as AgentErrorCode) : "internal", m.error.message));
      });
      res.on("error", (e) => done(errorReply("unavailable", `the rs-agent at ${where} broke off its reply: ${e.message}`)));
    };
    const req =
      url.protocol !== "https:"
        ? httpRequest(common, onResponse)
        : pinned
          ? // Pinned: the TLS connection was made and its certificate checked before HTTP writes a byte (the
            // token is in the headers); no CA or name is asked, so a self-signed certificate works. (With an
            // agent, even agent: false, node would open its own plain connection and ignore createConnection.)
            httpRequest({ ...common, agent: undefined, createConnection: () => pinned }, onResponse)
          : httpsRequest(common, onResponse);
    const timer = setTimeout(() => {
      done(errorReply("timeout", `the rs-agent at ${where} did not answer ${op} within ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    const onAbort = () => {
      done(errorReply("unavailable", `${op} to ${where} was cancelled`));
      req.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e: NodeJS.ErrnoException) => {
      const why = e.code === "ECONNREFUSED" ? "nothing listens there (is lvsdash rs-agent running?)" : e.message;
      done(errorReply("unavailable", `cannot reach the rs-agent at ${where}: ${why}`));
    });
    req.end(body);
  });
}

export function createRsAgentClient(options: RsAgentClientOptions): RsAgentClient {
  parseAgentUrl(options.url);
  return {
    async call(op, input, signal) {
      const timeoutMs = options.timeoutMs ?? RS_OPS[op].timeoutMs + GRACE_MS;
      const reply = await exchangeHttp(options, op, input, timeoutMs, signal);
      if (!reply.ok) throw new AgentError(reply.error.code, reply.error.message);
      // The rs-agent is this same program (same RS_OPS): its output is trusted as typed.
      return reply.output as RsOpOutput<typeof op>;
    },
  };
}
