// HTTP probes through a VIP, to verify a wizard's change with real traffic: from this host (node's http,
// a new connection per request) or from a named network namespace (`ip netns exec NS busybox wget`, through
// execFile with an argv: the namespace name, address, port and path are validated by the caller and again here).
import { execFile } from "node:child_process";
import http from "node:http";

const NETNS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const PATH_RE = /^\/[A-Za-z0-9_.~/-]{0,200}$/;
const IPV4_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export interface HttpProbe {
  address: string;
  port: number;
  path: string;
  netns?: string;
  timeoutMs: number;
}

export type ProbeAnswer = { ok: true; body: string } | { ok: false; error: string };

export function httpProbe(p: HttpProbe): Promise<ProbeAnswer> {
  if (!IPV4_RE.test(p.address) || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535 || !PATH_RE.test(p.path) || (p.netns !== undefined && !NETNS_RE.test(p.netns))) {
    return Promise.resolve({ ok: false, error: "refused probe: invalid address, port, path or namespace" });
  }
  const url = `http://${p.address}:${p.port}${p.path}`;
  if (p.netns !== undefined) {
    return new Promise((resolve) => {
      execFile("ip", ["netns", "exec", p.netns!, "busybox", "wget", "-q", "-O", "-", url], { timeout: p.timeoutMs }, (error, stdout, stderr) => {
        if (error) resolve({ ok: false, error: (stderr || error.message).trim() || "no answer" });
        else resolve({ ok: true, body: stdout.trim() });
      });
    });
  }
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: p.timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c.length + body.length < 4096 ? c : ""));
      res.on("end", () => resolve((res.statusCode ?? 0) < 400 ? { ok: true, body: body.trim() } : { ok: false, error: `HTTP ${res.statusCode}` }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${p.timeoutMs} ms`)));
    req.on("error", (e) => resolve({ ok: false, error: e.message }));
  });
}
