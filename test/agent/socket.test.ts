// The agent's Unix socket transport and the web server's client, over real sockets in a temp directory.
import { spawn } from "node:child_process";
import { lstat, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { createAgentClient, createSocketExchange, type SocketExchange } from "@/server/agent/client";
import { createDispatcher, type OpHandlers } from "@/server/agent/dispatcher";
import { AgentError, decodeLine, encodeLine, type AgentExchange, type HostInfo } from "@/server/agent/protocol";
import { listenUnix, type UnixServer } from "@/server/agent/server";

import { fakeHandlers } from "./fake-handlers";

const HOST: HostInfo = { hostname: "director", kernelRelease: "6.1.0-56-amd64", uid: 0, capNetAdmin: true };

let dir: string;
let socketPath: string;
const cleanups: (() => unknown)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lvsdash-agent-"));
  // A directory the server creates itself, so its mode is the server's doing.
  socketPath = join(dir, "run", "agent.sock");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function startAgent(handlers: Partial<OpHandlers> = {}, maxRequestBytes?: number): Promise<UnixServer> {
  const exchange = createDispatcher(
    fakeHandlers({
      "ipvs.status": async () => ({ available: false, reason: "no ip_vs here" }),
      "ipvs.metrics": async () => ({ available: false, reason: "no ip_vs here" }),
      "host.info": async () => HOST,
      ...handlers,
    }),
  );
  const server = await listenUnix({ path: socketPath, exchange, maxRequestBytes });
  cleanups.push(() => server.close());
  return server;
}

function connectClient(options: { timeoutMs?: number; maxReplyBytes?: number } = {}): SocketExchange {
  const client = createSocketExchange({ path: socketPath, ...options });
  cleanups.push(() => client.close());
  return client;
}

/** Sends raw bytes and collects the reply lines until the agent hangs up or `lines` have arrived. */
function rawExchange(payload: string | Buffer, lines = Infinity): Promise<{ replies: unknown[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let text = "";
    const replies: unknown[] = [];
    socket.on("data", (chunk) => {
      text += chunk.toString("utf8");
      let nl;
      while ((nl = text.indexOf("\n")) >= 0) {
        replies.push(decodeLine(text.slice(0, nl)));
        text = text.slice(nl + 1);
      }
      if (replies.length >= lines) {
        socket.destroy();
        resolve({ replies, closed: false });
      }
    });
    socket.on("close", () => resolve({ replies, closed: true }));
    socket.on("error", reject);
    socket.write(payload);
  });
}

describe("agent socket", () => {
  it("round-trips ops through the socket, with the socket 0660 in a 0750 directory", async () => {
    await startAgent();
    const agent = createAgentClient(connectClient().exchange);
    await expect(agent.call("host.info", {})).resolves.toEqual(HOST);
    await expect(agent.call("ipvs.status", {})).resolves.toEqual({ available: false, reason: "no ip_vs here" });
    expect((await stat(socketPath)).mode & 0o777).toBe(0o660);
    expect((await stat(join(dir, "run"))).mode & 0o777).toBe(0o750);
  });

  it("pairs replies with requests by id when they finish out of order", async () => {
    let releaseStatus: (() => void) | undefined;
    await startAgent({
      "ipvs.status": () =>
        new Promise((resolve) => (releaseStatus = () => resolve({ available: false, reason: "slow" }))),
    });
    const agent = createAgentClient(connectClient().exchange);
    const slow = agent.call("ipvs.status", {});
    await new Promise((r) => setTimeout(r, 20));
    await expect(agent.call("host.info", {})).resolves.toEqual(HOST);
    releaseStatus?.();
    await expect(slow).resolves.toEqual({ available: false, reason: "slow" });
  });

  it("carries bigint values as bigint", async () => {
    const table = { version: "1.2.1", connTableSize: 4096, services: [], bytes: 2n ** 64n - 1n };
    const exchange: AgentExchange = async () => ({ ok: true, output: table });
    const server = await listenUnix({ path: socketPath, exchange });
    cleanups.push(() => server.close());
    const reply = await connectClient().exchange({ op: "ipvs.status", input: {} });
    expect(reply).toEqual({ ok: true, output: table });
  });

  it("refuses an unknown op and invalid input sent over the socket", async () => {
    await startAgent();
    const client = connectClient();
    expect(await client.exchange({ op: "shell", input: { cmd: "id" } })).toMatchObject({
      ok: false,
      error: { code: "unknown_op" },
    });
    expect(await client.exchange({ op: "ipvs.status", input: { file: "/etc/shadow" } })).toMatchObject({
      ok: false,
      error: { code: "invalid_input" },
    });
  });

  it("answers a line that is not a request with bad_request, keeping the id when it can", async () => {
    await startAgent();
    const { replies } = await rawExchange('not json\n{"id":5,"op":7}\n', 2);
    expect(replies).toEqual([
      { id: null, ok: false, error: { code: "bad_request", message: "not a JSON line" } },
      { id: 5, ok: false, error: { code: "bad_request", message: expect.any(String) } },
    ]);
  });

  it("rejects an oversize request with too_large and hangs up, without waiting for its end", async () => {
    await startAgent({}, 1024);
    // No newline: the agent must not wait for one.
    const { replies, closed } = await rawExchange(Buffer.alloc(4096, 0x61));
    expect(replies).toEqual([{ id: null, ok: false, error: { code: "too_large", message: expect.any(String) } }]);
    expect(closed).toBe(true);
  });

  it("accepts a request of exactly the maximum size", async () => {
    await startAgent({}, 1024);
    const line = encodeLine({ id: 1, op: "host.info", input: {} });
    const padded = `${line.slice(0, -1)}${" ".repeat(1024 - (line.length - 1))}\n`;
    expect(Buffer.byteLength(padded)).toBe(1025);
    const { replies } = await rawExchange(padded, 1);
    expect(replies).toEqual([{ id: 1, ok: true, output: HOST }]);
  });

  it("rejects a reply longer than the client's limit", async () => {
    await startAgent({ "host.info": async () => ({ ...HOST, hostname: "x".repeat(10_000) }) });
    const reply = await connectClient({ maxReplyBytes: 1000 }).exchange({ op: "host.info", input: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: "too_large" } });
  });

  it("reports a timeout when the agent never answers", async () => {
    // A listener that reads requests and never replies: a hung agent.
    const silent: Server = createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(socketPath.replace("run/", ""), resolve));
    cleanups.push(() => new Promise((resolve) => silent.close(resolve)));
    const client = createSocketExchange({ path: socketPath.replace("run/", ""), timeoutMs: 100 });
    cleanups.push(() => client.close());
    const started = Date.now();
    const reply = await client.exchange({ op: "ipvs.status", input: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: "timeout" } });
    if (!reply.ok) expect(reply.error.message).toContain("within 100 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  it("says the agent is not running, naming the socket and npm start, when nothing listens", async () => {
    const agent = createAgentClient(connectClient().exchange);
    const error = await agent.call("host.info", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentError);
    expect(error).toMatchObject({ code: "unavailable" });
    expect((error as AgentError).message).toBe(
      `the lvs-dashboard agent is not running (socket ${socketPath}): start it with npm start`,
    );
  });

  it("reconnects after the agent restarts", async () => {
    const first = await startAgent();
    const agent = createAgentClient(connectClient().exchange);
    await expect(agent.call("host.info", {})).resolves.toEqual(HOST);
    await first.close();
    await expect(agent.call("host.info", {})).rejects.toMatchObject({ code: "unavailable" });
    await startAgent();
    await expect(agent.call("host.info", {})).resolves.toEqual(HOST);
  });

  it("answers pending requests `unavailable` when the agent goes away mid-request", async () => {
    const server = await startAgent({ "ipvs.status": () => new Promise(() => {}) });
    const pending = connectClient().exchange({ op: "ipvs.status", input: {} });
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    await expect(pending).resolves.toMatchObject({ ok: false, error: { code: "unavailable" } });
  });

  it("replaces a stale socket but refuses to start beside a live agent or over a regular file", async () => {
    const first = await startAgent();
    await expect(listenUnix({ path: socketPath, exchange: createDispatcher({} as OpHandlers) })).rejects.toThrow(
      /already listening/,
    );
    // A socket file whose agent died: a process that listens and is then SIGKILLed leaves the file behind.
    await first.close();
    const crashed = spawn(process.execPath, [
      "-e",
      "require('net').createServer().listen(process.argv[1], () => process.stdout.write('up'))",
      socketPath,
    ]);
    await new Promise((resolve) => crashed.stdout.once("data", resolve));
    crashed.kill("SIGKILL");
    await new Promise((resolve) => crashed.once("exit", resolve));
    expect((await lstat(socketPath)).isSocket()).toBe(true);
    await startAgent();
    await expect(createAgentClient(connectClient().exchange).call("host.info", {})).resolves.toEqual(HOST);

    const file = join(dir, "not-a-socket");
    await writeFile(file, "");
    await expect(listenUnix({ path: file, exchange: createDispatcher({} as OpHandlers) })).rejects.toThrow(
      /not a socket/,
    );
  });
});
