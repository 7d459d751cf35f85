// The agent's Unix socket transport: frames JSON lines and hands each request to an AgentExchange (the
// dispatcher). It knows nothing about ops.
//
// Access control is the file system's: the socket's directory is 0750 and the socket 0660, both owned by
// root and the web user's group, so only root and that group can connect. Unix sockets work across network
// namespaces, which lets the agent run inside a director's namespace while the web server runs outside it.
import { chmod, chown, lstat, mkdir, unlink } from "node:fs/promises";
import { createConnection, createServer, type Socket } from "node:net";
import { dirname } from "node:path";

import { createLineSplitter } from "./lines";
import {
  decodeLine,
  encodeLine,
  errorReply,
  MAX_REQUEST_BYTES,
  requestEnvelope,
  type AgentExchange,
  type AgentReply,
} from "./protocol";

export interface UnixServerOptions {
  path: string;
  exchange: AgentExchange;
  /** Group that may connect (the web server's); when unset the socket keeps the agent's own group. */
  gid?: number;
  maxRequestBytes?: number;
}

export interface UnixServer {
  path: string;
  close(): Promise<void>;
}

/** Listens on `path`, replacing a stale socket left by an agent that died, refusing to start beside a live one. */
export async function listenUnix(options: UnixServerOptions): Promise<UnixServer> {
  const { path, exchange, gid } = options;
  const maxRequestBytes = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
  await prepareDirectory(dirname(path), gid);
  await removeStaleSocket(path);

  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    serveConnection(socket, exchange, maxRequestBytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(path, 0o660);
  if (gid !== undefined) await chown(path, -1, gid);

  return {
    path,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of connections) socket.destroy();
      await closed;
    },
  };
}

function serveConnection(socket: Socket, exchange: AgentExchange, maxRequestBytes: number): void {
  // Aborts the ops still running for this connection when it goes away.
  const gone = new AbortController();
  socket.on("close", () => gone.abort());
  socket.on("error", () => socket.destroy());

  const send = (id: number | null, reply: AgentReply) => {
    if (!socket.destroyed && socket.writable) socket.write(encodeLine({ id, ...reply }));
  };

  const splitter = createLineSplitter(
    maxRequestBytes,
    (line) => {
      if (line.trim() === "") return;
      let message: unknown;
      try {
        message = decodeLine(line);
      } catch {
        send(null, errorReply("bad_request", "not a JSON line"));
        return;
      }
      const envelope = requestEnvelope.safeParse(message);
      if (!envelope.success) {
        const id = (message as { id?: unknown } | null)?.id;
        const usableId = typeof id === "number" && Number.isSafeInteger(id) && id >= 0 ? id : null;
        send(usableId, errorReply("bad_request", 'expected {"id": number, "op": string, "input": ...}'));
        return;
      }
      const { id, op, input } = envelope.data;
      void exchange({ op, input }, gone.signal).then((reply) => send(id, reply));
    },
    () => {
      // The rest of an oversize line cannot be told from the next request: answer once and hang up.
      send(null, errorReply("too_large", `request line longer than ${maxRequestBytes} bytes`));
      socket.end();
      socket.pause();
    },
  );
  socket.on("data", (chunk: Buffer) => splitter.push(chunk));
}

/** Creates the socket's directory as 0750 with the web user's group; leaves an existing one as it is. */
async function prepareDirectory(dir: string, gid: number | undefined): Promise<void> {
  const created = await mkdir(dir, { recursive: true, mode: 0o750 });
  if (created === undefined) return;
  await chmod(dir, 0o750);
  if (gid !== undefined) await chown(dir, -1, gid);
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket: remove it or set LVSDASH_AGENT_SOCKET`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new Error(`another lvs-dashboard agent is already listening on ${path}`);
  await unlink(path);
}
