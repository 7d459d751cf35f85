// The lab site's HTTP client. Runs inside the client namespace (`ip netns exec <site>-client node client.mjs`),
// started once per site by lab/site/site.ts: under TCG a node start costs 1-2 s, a request a few milliseconds.
//
// Protocol: one JSON object per line on stdin, one JSON answer per line on stdout.
//   {"id":1,"op":"batch","host":"192.0.2.100","port":80,"path":"/","count":30,"timeoutMs":1000}
//     -> {"id":1,"results":[{"ok":true,"body":"rs1","at":1795312897898,"ms":12} | {"ok":false,"error":"timeout",...}, ...]}
//        (at: when the request started, epoch ms; ms: how long it took)
//     count requests, one after the other, each an HTTP/1.0 GET on a new TCP connection.
//   {"id":2,"op":"start","host":...,"port":...,"path":...,"timeoutMs":...,"intervalMs":100}
//     -> {"id":2,"started":true}       steady traffic (one request every intervalMs) until "stop"
//   {"id":3,"op":"stop"} -> {"id":3,"results":[...]}     the steady traffic's results since "start"
// Plain JavaScript on purpose: node starts it without a TypeScript loader.
import net from "node:net";
import { createInterface } from "node:readline";

/** One HTTP/1.0 GET on a fresh connection; never rejects. */
function get(host, port, path, timeoutMs) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks = [];
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // the local port: which IPVS connection entry the request used (read before destroy() forgets it)
      const localPort = sock.localPort;
      sock.destroy();
      resolve({ ...r, localPort, at: t0, ms: Date.now() - t0 });
    };
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish({ ok: false, error: "timeout" }), timeoutMs);
    sock.on("connect", () => sock.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    sock.on("data", (d) => chunks.push(d));
    sock.on("error", (e) => finish({ ok: false, error: e.code ?? e.message }));
    sock.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const head = text.indexOf("\r\n\r\n");
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (head < 0 || !status) return finish({ ok: false, error: "bad-response" });
      if (status[1] !== "200") return finish({ ok: false, error: `http-${status[1]}` });
      finish({ ok: true, body: text.slice(head + 4).trim() });
    });
  });
}

let loop = null;

async function handle(msg) {
  const { host, port, path = "/", timeoutMs = 1000 } = msg;
  if (msg.op === "batch") {
    const results = [];
    for (let i = 0; i < msg.count; i++) results.push(await get(host, port, path, timeoutMs));
    return { results };
  }
  if (msg.op === "start") {
    if (loop) throw new Error("steady traffic is already running");
    const state = { results: [], stopped: false, running: null };
    state.running = (async () => {
      while (!state.stopped) {
        const t0 = Date.now();
        state.results.push(await get(host, port, path, timeoutMs));
        const wait = msg.intervalMs - (Date.now() - t0);
        if (wait > 0 && !state.stopped) await new Promise((r) => setTimeout(r, wait));
      }
    })();
    loop = state;
    return { started: true };
  }
  if (msg.op === "stop") {
    if (!loop) throw new Error("no steady traffic is running");
    const state = loop;
    loop = null;
    state.stopped = true;
    await state.running;
    return { results: state.results };
  }
  throw new Error(`unknown op ${msg.op}`);
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    process.stdout.write(JSON.stringify({ id: null, error: `not JSON: ${line}` }) + "\n");
    return;
  }
  handle(msg).then(
    (r) => process.stdout.write(JSON.stringify({ id: msg.id, ...r }) + "\n"),
    (e) => process.stdout.write(JSON.stringify({ id: msg.id, error: String(e?.message ?? e) }) + "\n"),
  );
});
rl.on("close", () => process.exit(0));
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
