// Runs an LVS lab site in the lab guest (needs IPVS: Debian's kernel under qemu, see shared/kernel-lab.md).
// The planning is in lab/site/plan.ts; this file only runs its scripts, each with ONE `sh`, and keeps one
// long-lived HTTP client (lab/site/client.mjs) in the client namespace.
//
//   const site = await buildSite({ name: "s1", mode: "dr" });
//   const r = await site.request(30);            // { byServer: { rs1: 10, rs2: 20 }, failures: 0, ... }
//   await site.setFault({ kind: "rs-arp", rs: "rs2" }, true);
//   await site.destroy();
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseIpvsadmStats, type DestStats } from "./ipvsadm";
import { parseNetstat } from "./netstat";
import { faultScripts, planHost, planSite, type HostPlan, type PlanOptions, type Segment, type SitePlan } from "./plan";
import { faultKey, type Fault, type SiteSpec } from "./spec";

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of throwing. */
  allowFailure?: boolean;
  input?: string;
}

export interface RequestOptions {
  /** Default: the VIP and its port, path "/". "/cgi-bin/peer" answers "<rs> <address the rs sees>". */
  host?: string;
  port?: number;
  path?: string;
  /** Per request, connect to end of response (default 3000 ms: under TCG, with other guests on the host, a
   *  lost SYN costs the 1 s initial retransmission timeout; a shorter one makes healthy requests fail). */
  timeoutMs?: number;
}

export interface Response {
  ok: boolean;
  /** The page: the real server's name (path "/") or "<name> <peer address>" (path "/cgi-bin/peer"). */
  body?: string;
  error?: string;
  /** The client's source port, where the socket had one. */
  localPort?: number;
  /** When the request started (epoch ms, the guest's clock: the same as the tests'). */
  at: number;
  /** How long it took, to the answer or the failure. */
  ms: number;
}

export interface RequestResult {
  /** Successful answers by real server (first word of the body). */
  byServer: Record<string, number>;
  failures: number;
  /** Failures by reason: "timeout", "ECONNREFUSED", "ECONNRESET", "http-404", ... */
  failureReasons: Record<string, number>;
  responses: Response[];
  elapsedMs: number;
}

export type CaptureOptions =
  | { segment?: Segment; filter?: string }
  | { node: string; ifname: string; filter?: string };

export interface Capture {
  /** Stops tcpdump (SIGINT: it flushes the file) and returns how many packets it wrote. */
  stop(): Promise<{ packets: number }>;
}

export interface Traffic {
  stop(): Promise<RequestResult>;
}

export interface Site {
  readonly plan: SitePlan;
  readonly name: string;
  readonly hosts: readonly HostPlan[];
  readonly vip: string;
  readonly vipPort: number;
  /** The LAN bridge, in the namespace the site was built from: `tcpdump -i <lanBridge>`. */
  readonly lanBridge: string;
  host(node: string): HostPlan;
  /** `count` sequential HTTP/1.0 requests from the client, each on a new connection. */
  request(count: number, opts?: RequestOptions): Promise<RequestResult>;
  /** Steady traffic from the client (one request every intervalMs, default 200) until stop(). */
  startTraffic(opts?: RequestOptions & { intervalMs?: number }): Promise<Traffic>;
  setFault(fault: Fault, on: boolean): Promise<void>;
  activeFaults(): Fault[];
  /** Starts tcpdump on a segment's bridge (default the LAN), writing `file`; resolves once it listens. */
  /** tcpdump on a segment's bridge (default the LAN), or on an interface inside a node's namespace. */
  capture(file: string, opts?: CaptureOptions): Promise<Capture>;
  /** Runs argv inside a node's namespace (`ip netns exec`); throws on a non-zero exit unless allowFailure. */
  exec(node: string, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs a script with `sh -e` inside a node's namespace. */
  sh(node: string, script: string, opts?: ExecOptions): Promise<ExecResult>;
  /** ipvsadm in the director's namespace; returns its stdout. */
  ipvsadm(args: readonly string[]): Promise<string>;
  /** Per real server counters from `ipvsadm -Ln --stats --exact`, by real server name. Linux before 6.2
   *  folds the per-CPU counters into these only in the rate estimator's timer, every 2 s: they lag that much
   *  (seen in the lab: 21 connections shown right after 30 requests, 30 two seconds later). */
  realServerStats(): Promise<Record<string, DestStats>>;
  /** A node's /proc/net/snmp and /proc/net/netstat counters ("Ip.InAddrErrors", "TcpExt.IPReversePathFilter"). */
  counters(node: string): Promise<Record<string, number>>;
  destroy(): Promise<void>;
}

export class LabCommandError extends Error {
  override name = "LabCommandError";
  constructor(
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
    why: string,
  ) {
    super(`${why}: ${command}\n${tail(stderr, 25)}`);
  }
}

export interface BuildOptions extends PlanOptions {
  /** For the whole `up` script (default 180 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 3000;
const CAPTURE_DRAIN_MS = 500;
const CLIENT = fileURLToPath(new URL("./client.mjs", import.meta.url));

export async function buildSite(spec: SiteSpec, opts: BuildOptions = {}): Promise<Site> {
  const plan = planSite(spec, opts);
  if (!existsSync("/proc/net/ip_vs")) {
    throw new Error("buildSite needs IPVS (/proc/net/ip_vs is missing): run it inside the lab guest");
  }
  // Left over from a run that did not clean up (a crashed test): remove it, or `netns add` fails.
  if (plan.hosts.some((h) => existsSync(`/run/netns/${h.netns}`))) await runScript(plan.down, "down", 60_000);
  try {
    await runScript(plan.up, `up (site ${plan.spec.name})`, opts.timeoutMs ?? 180_000);
    return new LabSite(plan, await Client.start(planHost(plan, "client").netns));
  } catch (e) {
    await runScript(plan.down, "down", 60_000).catch(() => undefined);
    throw e;
  }
}

class LabSite implements Site {
  readonly name: string;
  readonly hosts: readonly HostPlan[];
  readonly vip: string;
  readonly vipPort: number;
  readonly lanBridge: string;
  private readonly faults = new Map<string, Fault>();
  private destroyed = false;

  constructor(
    readonly plan: SitePlan,
    private readonly client: Client,
  ) {
    this.name = plan.spec.name;
    this.hosts = plan.hosts;
    this.vip = plan.vip;
    this.vipPort = plan.vipPort;
    this.lanBridge = plan.lanBridge;
    for (const f of plan.spec.faults) this.faults.set(faultKey(f), f);
  }

  host(node: string): HostPlan {
    return planHost(this.plan, node);
  }

  async request(count: number, opts: RequestOptions = {}): Promise<RequestResult> {
    const t0 = Date.now();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { results } = await this.client.call(
      { op: "batch", count, ...this.target(opts), timeoutMs },
      count * (timeoutMs + 500) + 10_000,
    );
    return summarize(results, Date.now() - t0);
  }

  async startTraffic(opts: RequestOptions & { intervalMs?: number } = {}): Promise<Traffic> {
    const t0 = Date.now();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    await this.client.call({ op: "start", ...this.target(opts), timeoutMs, intervalMs: opts.intervalMs ?? 200 }, 10_000);
    return {
      stop: async () => {
        const { results } = await this.client.call({ op: "stop" }, timeoutMs + 10_000);
        return summarize(results, Date.now() - t0);
      },
    };
  }

  async setFault(fault: Fault, on: boolean): Promise<void> {
    const scripts = faultScripts(this.plan, fault);
    await runScript(on ? scripts.on : scripts.off, `fault ${faultKey(fault)} ${on ? "on" : "off"}`, 60_000);
    if (on) this.faults.set(faultKey(fault), fault);
    else this.faults.delete(faultKey(fault));
  }

  activeFaults(): Fault[] {
    return [...this.faults.values()];
  }

  capture(file: string, opts: CaptureOptions = {}): Promise<Capture> {
    if ("node" in opts) {
      return startCapture(["ip", "netns", "exec", this.host(opts.node).netns], opts.ifname, file, opts.filter);
    }
    const segment = opts.segment ?? "lan";
    const bridge = this.plan.bridges[segment];
    if (!bridge) return Promise.reject(new Error(`site ${this.name} (${this.plan.spec.mode}) has no ${segment} segment`));
    return startCapture([], bridge, file, opts.filter);
  }

  exec(node: string, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run(["ip", "netns", "exec", this.host(node).netns, ...argv], opts);
  }

  sh(node: string, script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(node, ["sh", "-ec", script], opts);
  }

  async ipvsadm(args: readonly string[]): Promise<string> {
    return (await this.exec("dir", ["ipvsadm", ...args])).stdout;
  }

  async realServerStats(): Promise<Record<string, DestStats>> {
    const services = parseIpvsadmStats(await this.ipvsadm(["-Ln", "--stats", "--exact"]));
    const svc = services.find((s) => s.service === `${this.vip}:${this.vipPort}`);
    if (!svc) throw new Error(`ipvsadm shows no service ${this.vip}:${this.vipPort}`);
    const out: Record<string, DestStats> = {};
    for (const h of this.hosts) {
      if (!h.realServer) continue;
      const d = svc.dests[`${h.realServer.rip}:${h.realServer.port}`];
      if (d) out[h.node] = d;
    }
    return out;
  }

  async counters(node: string): Promise<Record<string, number>> {
    return parseNetstat((await this.exec(node, ["cat", "/proc/net/snmp", "/proc/net/netstat"])).stdout);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.client.close();
    await runScript(this.plan.down, `down (site ${this.name})`, 60_000);
  }

  private target(opts: RequestOptions): { host: string; port: number; path: string } {
    return { host: opts.host ?? this.vip, port: opts.port ?? this.vipPort, path: opts.path ?? "/" };
  }
}

function summarize(results: Response[], elapsedMs: number): RequestResult {
  const byServer: Record<string, number> = {};
  const failureReasons: Record<string, number> = {};
  let failures = 0;
  for (const r of results) {
    if (r.ok) {
      const server = (r.body ?? "").split(/\s+/)[0] ?? "";
      byServer[server] = (byServer[server] ?? 0) + 1;
    } else {
      failures++;
      const why = r.error ?? "unknown";
      failureReasons[why] = (failureReasons[why] ?? 0) + 1;
    }
  }
  return { byServer, failures, failureReasons, responses: results, elapsedMs };
}

/** The long-lived client process in the client namespace (lab/site/client.mjs). */
class Client {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private stderr = "";
  private exited: Error | null = null;

  private constructor(private readonly proc: ReturnType<typeof spawn>, private readonly command: string) {}

  static start(netns: string, timeoutMs = 60_000): Promise<Client> {
    const argv = ["ip", "netns", "exec", netns, process.execPath, CLIENT];
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const client = new Client(proc, argv.join(" "));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new LabCommandError(client.command, null, client.stderr, `the client did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      proc.stderr!.on("data", (d: Buffer) => (client.stderr += d.toString()));
      // Writing to a client that died: its "exit" handler reports that, with its stderr.
      proc.stdin!.on("error", () => undefined);
      proc.on("error", (e) => client.fail(new LabCommandError(client.command, null, String(e), "cannot start the client")));
      proc.on("exit", (code) => {
        clearTimeout(timer);
        const err = new LabCommandError(client.command, code, client.stderr, `the client exited (${code})`);
        client.fail(err);
        reject(err);
      });
      createInterface({ input: proc.stdout! }).on("line", (line) => {
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          client.stderr += `unexpected output: ${line}\n`;
          return;
        }
        if (msg.ready) {
          clearTimeout(timer);
          resolve(client);
          return;
        }
        const p = client.pending.get(msg.id as number);
        if (!p) return;
        client.pending.delete(msg.id as number);
        if (typeof msg.error === "string") p.reject(new Error(`client: ${msg.error}`));
        else p.resolve(msg);
      });
    });
  }

  call(msg: Record<string, unknown>, timeoutMs: number): Promise<{ results: Response[] }> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`client: no answer to ${JSON.stringify(msg)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as unknown as { results: Response[] }); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.proc.stdin!.write(JSON.stringify({ id, ...msg }) + "\n");
    });
  }

  close(): void {
    this.exited ??= new Error("client closed");
    this.proc.stdin!.end();
    this.proc.kill("SIGTERM");
  }

  private fail(err: Error): void {
    this.exited ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** tcpdump on a bridge. In the lab, a tcpdump stopped about 0.3 s after the traffic wrote 0 of its 9 packets;
 *  with --immediate-mode (libpcap otherwise hands packets over a ring block at a time, closing a block only
 *  after its timeout) and half a second's grace before SIGINT it wrote all 9. -U writes each packet at once. */
/** tcpdump on `ifname`, run through `prefix` (empty, or `ip netns exec NS` for an interface inside a node). */
function startCapture(prefix: readonly string[], ifname: string, file: string, filter: string | undefined, timeoutMs = 30_000): Promise<Capture> {
  // -Z root: tcpdump run as root may otherwise switch to its own user before it opens the file.
  const tcpdump = ["tcpdump", "-i", ifname, "-n", "--immediate-mode", "-U", "-Z", "root", "-w", file, ...(filter ? [filter] : [])];
  const argv = [...prefix, ...tcpdump];
  const command = argv.join(" ");
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => proc.on("close", resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new LabCommandError(command, null, stderr, `tcpdump did not start listening within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.on("error", (e) => reject(new LabCommandError(command, null, String(e), "cannot run")));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new LabCommandError(command, code, stderr, "tcpdump exited before it listened"));
    });
    proc.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!stderr.includes("listening on")) return;
      clearTimeout(timer);
      resolve({
        stop: async () => {
          await new Promise((r) => setTimeout(r, CAPTURE_DRAIN_MS));
          proc.kill("SIGINT");
          const code = await exited;
          const m = /(\d+) packets? captured/.exec(stderr);
          if (code !== 0 || !m) throw new LabCommandError(command, code, stderr, "tcpdump did not stop cleanly");
          return { packets: Number(m[1]) };
        },
      });
    });
  });
}

/** Runs a plan script with ONE `sh -e -x` (the trace names the failing command and step in the error). */
async function runScript(script: string, what: string, timeoutMs: number): Promise<void> {
  const r = await run(["sh", "-ex", "-c", script], { timeoutMs, allowFailure: true });
  if (r.code !== 0) throw new LabCommandError(`sh -ex -c <${what} script>`, r.code, r.stderr, `${what} failed (exit ${r.code})`);
}

function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const command = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ");
  return new Promise((resolve, reject) => {
    // stdin only when there is input: a pipe nobody reads fails with EPIPE once the command has exited.
    const proc = spawn(argv[0]!, argv.slice(1), { stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, timeoutMs);
    proc.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    proc.on("error", (e) => {
      clearTimeout(timer);
      reject(new LabCommandError(command, null, String(e), "cannot run"));
    });
    proc.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) return reject(new LabCommandError(command, code, stderr, `timed out after ${timeoutMs} ms`));
      if (code !== 0 && !opts.allowFailure) return reject(new LabCommandError(command, code, stderr, `exit ${code}`));
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    if (opts.input !== undefined) {
      proc.stdin!.on("error", () => undefined); // the command's exit status tells what went wrong
      proc.stdin!.end(opts.input);
    }
  });
}

function tail(text: string, lines: number): string {
  const all = text.trimEnd().split("\n");
  return (all.length > lines ? ["...", ...all.slice(-lines)] : all).join("\n");
}
