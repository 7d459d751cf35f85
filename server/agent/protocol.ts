// The agent's protocol: the only things the unprivileged web server can ask the privileged agent to do.
//
// The agent owns all kernel I/O and runs as root; the web server runs as an unprivileged user and reaches it
// over a Unix socket (Cockpit's model). Every operation is listed in AGENT_OPS with a zod schema for its input
// and the TypeScript type of its output; nothing else can be asked for. Inputs never carry file names, paths
// or command lines: an op names what it does, and the agent decides which kernel interface does it.
//
// Wire format (one JSON document per line, "\n"-terminated, each line at most the size limits below):
//
//   web -> agent   {"id":7,"op":"ipvs.status","input":{}}
//   agent -> web   {"id":7,"ok":true,"output":{...}}
//                  {"id":7,"ok":false,"error":{"code":"invalid_input","message":"..."}}
//                  {"id":null,"ok":false,"error":{...}}      (a line the agent could not read an id from)
//
// Replies may come back in any order; `id` pairs them with requests. bigint values (64-bit kernel counters)
// travel as {"$bigint":"123"}, since JSON has no integer type wider than 2^53.
//
// Transport and dispatch are separate: an AgentExchange is a function from request to reply. The dispatcher is
// one (in the agent), the socket client is another (in the web server), and a test fake is a third. A network
// transport for remote real servers can wrap the same dispatcher later.
import { z } from "zod";

import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";
import type { ProcIpVsTable } from "@/server/ipvs/proc/services";
import type { IpVsCounters } from "@/server/ipvs/proc/stats";
import type { IpvsSnapshotData } from "@/server/ipvs/snapshot/agent";
import type { IpvsCountersData } from "@/server/live/counters";
import { connQueryInput, type ConnsQueryResult, type ConnsRefreshResult, type ConnsStatus } from "@/server/ipvs/conntable/ops";
import { INTERFACE_NAME, MAX_INTERFACES } from "@/server/capture/live/limits";
import { SESSION_ID, type CaptureStatus, type EvidenceFile, type FindingsReport } from "@/server/diagnostics/live";
import type { SiteContext } from "@/server/diagnostics/types";
import { rulesImportInput, type RulesImportResult } from "@/server/ipvs/keepalived/rules-io";
import { drainIdInput, drainStartInput, type DrainStatus } from "@/server/ipvs/drain/drain";
import { wizardApplyInput, wizardIdInput, wizardInput, type PreflightProblem, type WizardReview, type WizardStatus } from "@/server/wizards/protocol";

// ---------------------------------------------------------------------------------------------------------
// 1. Operation outputs
// ---------------------------------------------------------------------------------------------------------

/** `ipvs.status`: the virtual service table, or why there is none. */
export type IpvsStatus =
  | { available: true; table: ProcIpVsTable }
  | { available: false; reason: string };

/**
 * `ipvs.metrics`: what /metrics is made of, read at one moment: the netlink snapshot (64-bit counters, every
 * real server; attributes the client does not know are left out) and the /proc/net/ip_vs_stats totals
 * (null when the file is missing).
 */
export type IpvsMetricsData =
  | { available: true; services: ServiceWithDestinations[]; totals: IpVsCounters | null }
  | { available: false; reason: string };

/** `host.info`: what the agent runs on and with which privileges. */
export interface HostInfo {
  hostname: string;
  /** uname -r */
  kernelRelease: string;
  /** The agent's effective uid. */
  uid: number;
  /** CAP_NET_ADMIN in the agent's effective set (what IPVS changes need); null when /proc/self/status has no CapEff. */
  capNetAdmin: boolean | null;
}

// ---------------------------------------------------------------------------------------------------------
// 2. The operation table
// ---------------------------------------------------------------------------------------------------------

export interface OpSpec<Input extends z.ZodType, Output> {
  /** Validated by the dispatcher before the handler runs; use .strict() objects so unknown keys are refused. */
  input: Input;
  /** The agent answers `timeout` after this long; the client waits a little longer before giving up. */
  timeoutMs: number;
  /** Carries the output type only; never set. */
  readonly output?: Output;
}

/** Declares an op whose handler returns Output: op<IpvsStatus>()({ input, timeoutMs }). */
export function op<Output>() {
  return <Input extends z.ZodType>(spec: { input: Input; timeoutMs: number }): OpSpec<Input, Output> => spec;
}

const noInput = z.object({}).strict();

export const AGENT_OPS = {
  /** Reads /proc/net/ip_vs. */
  "ipvs.status": op<IpvsStatus>()({ input: noInput, timeoutMs: 10_000 }),
  /** The IPVS table over netlink with its counters, and /proc/net/ip_vs_stats: the data of /metrics. */
  "ipvs.metrics": op<IpvsMetricsData>()({ input: noInput, timeoutMs: 10_000 }),
  /** Hostname, kernel release and the agent's privileges. */
  "host.info": op<HostInfo>()({ input: noInput, timeoutMs: 5_000 }),
  /** The whole director over netlink (server/ipvs/snapshot/agent.ts has the shape): { available: true, snapshot:
   *  { takenAt, info (GET_INFO), timeouts (GET_CONFIG), daemons (GET_DAEMON), services: ServiceWithDestinations[]
   *  in ipvsadm's order, each with stats { conns, inPkts, outPkts, inBytes, outBytes, cps, inPps, outPps, inBps,
   *  outBps: bigint; width: 64 | 32 } } } or { available: false, reason }. `unknown` attributes are emptied. */
  "ipvs.snapshot": op<IpvsSnapshotData>()({ input: noInput, timeoutMs: 30_000 }),
  /** The live sampler's read, every second (server/live/counters.ts has the shape): the same netlink snapshot as
   *  ipvs.snapshot, as { available: true, frame: { takenAt, version, table | null, counters, conns, narrow,
   *  missing } }: the table (services, real servers, weights, flags, info, timeouts, daemons) only when its
   *  version (a hash) is not `table`, the one the caller holds; the u64 counters as [hi, lo] u32 words and the
   *  connection counts as u32s, each block one base64 string, so that the reply needs no bigint tags. */
  "ipvs.counters": op<IpvsCountersData>()({
    input: z.object({ table: z.string().max(64).nullable().default(null) }).strict(),
    timeoutMs: 30_000,
  }),
  /** The connection table as the background refresher last read it (server/ipvs/conntable/ops.ts): summary, age,
   *  progress of the pass in flight. Never reads /proc/net/ip_vs_conn itself. */
  "conns.status": op<ConnsStatus>()({ input: noInput, timeoutMs: 10_000 }),
  /** A filtered page of the last completed pass (null before the first). Never reads the table. */
  "conns.query": op<ConnsQueryResult>()({ input: connQueryInput, timeoutMs: 10_000 }),
  /** Asks for a pass now (joins the one in flight) and returns at once: a change, so a tRPC mutation. */
  "conns.refresh": op<ConnsRefreshResult>()({ input: noInput, timeoutMs: 10_000 }),
  /** Live capture and diagnostics (server/capture/live/ops.ts): start a session on the named interfaces (the
   *  filter comes from the agent's own IPVS table), stop it, and its status. start/stop change state. */
  "capture.start": op<CaptureStatus>()({
    input: z.object({ interfaces: z.array(z.string().regex(INTERFACE_NAME)).min(1).max(MAX_INTERFACES) }).strict(),
    timeoutMs: 15_000,
  }),
  "capture.stop": op<CaptureStatus>()({ input: noInput, timeoutMs: 5_000 }),
  "capture.status": op<CaptureStatus>()({ input: noInput, timeoutMs: 5_000 }),
  /** Findings of the capture session: events after the cursor `since`, open and resolved ones. */
  "diagnostics.findings": op<FindingsReport>()({
    input: z.object({ since: z.number().int().nonnegative().default(0) }).strict(),
    timeoutMs: 5_000,
  }),
  /** One finding's evidence packets as a small pcap (base64), by session id and finding number. */
  "diagnostics.evidence": op<EvidenceFile>()({
    input: z.object({ session: z.string().regex(SESSION_ID), ref: z.number().int().min(1).max(999_999_999) }).strict(),
    timeoutMs: 5_000,
  }),
  /** The site (VIPs, modes, real servers, MACs) from the agent's IPVS table: for analysing an uploaded capture. */
  "diagnostics.site": op<SiteContext>()({ input: noInput, timeoutMs: 10_000 }),
  /** Wizards (server/wizards/protocol.ts): preflight and plan read the director; apply starts a change (poll
   *  status), confirm keeps it, rollback undoes it; unconfirmed, the agent rolls it back by itself. */
  "wizard.preflight": op<PreflightProblem[]>()({ input: wizardInput, timeoutMs: 30_000 }),
  "wizard.plan": op<WizardReview>()({ input: wizardInput, timeoutMs: 30_000 }),
  "wizard.apply": op<WizardStatus>()({ input: wizardApplyInput, timeoutMs: 30_000 }),
  "wizard.status": op<WizardStatus>()({ input: noInput, timeoutMs: 5_000 }),
  "wizard.confirm": op<WizardStatus>()({ input: wizardIdInput, timeoutMs: 5_000 }),
  "wizard.rollback": op<WizardStatus>()({ input: wizardIdInput, timeoutMs: 120_000 }),
  /** Import of ipvsadm-save or keepalived.conf rules (server/ipvs/keepalived/rules-io.ts): dryRun plans against
   *  the live table; with the plan's fingerprint it applies it (rolled back on a refusal). */
  "ipvs.import": op<RulesImportResult>()({ input: rulesImportInput, timeoutMs: 60_000 }),
  /** Draining a real server (server/ipvs/drain/drain.ts): weight 0, watched until its active connections are
   *  gone, then removed; the agent does it in the background, drain.list shows progress, cancel restores. */
  "drain.start": op<DrainStatus>()({ input: drainStartInput, timeoutMs: 10_000 }),
  "drain.cancel": op<DrainStatus>()({ input: drainIdInput, timeoutMs: 30_000 }),
  "drain.list": op<DrainStatus[]>()({ input: noInput, timeoutMs: 5_000 }),
};

export type OpName = keyof typeof AGENT_OPS;
/** What a caller passes (before zod defaults and transforms). */
export type OpInput<K extends OpName> = z.input<(typeof AGENT_OPS)[K]["input"]>;
/** What a handler receives (after validation). */
export type OpParsedInput<K extends OpName> = z.output<(typeof AGENT_OPS)[K]["input"]>;
export type OpOutput<K extends OpName> = (typeof AGENT_OPS)[K] extends OpSpec<z.ZodType, infer O> ? O : never;

/** Own keys only: "constructor" or "__proto__" are not ops. */
export function isOpName(name: string): name is OpName {
  return Object.hasOwn(AGENT_OPS, name);
}

// ---------------------------------------------------------------------------------------------------------
// 3. Requests, replies, errors
// ---------------------------------------------------------------------------------------------------------

export interface AgentRequest {
  op: string;
  input: unknown;
}

export type AgentErrorCode =
  /** No op by that name (an agent older than the web server, or a bad client). */
  | "unknown_op"
  /** The input failed the op's schema. */
  | "invalid_input"
  /** Not a request at all: not JSON, or no id/op. */
  | "bad_request"
  /** A message over the size limit. */
  | "too_large"
  /** No answer in time. */
  | "timeout"
  /** The agent is not running, or the connection to it broke. */
  | "unavailable"
  /** The socket exists but this user may not connect to it. */
  | "permission_denied"
  /** The op failed in a way the agent did not expect; the agent logs the details. */
  | "internal";

export type AgentReply =
  | { ok: true; output: unknown }
  | { ok: false; error: { code: AgentErrorCode; message: string } };

/** A function from request to reply. Never throws: every failure is a reply with an error code. */
export type AgentExchange = (request: AgentRequest, signal?: AbortSignal) => Promise<AgentReply>;

const AGENT_ERROR = Symbol.for("lvs-dashboard.AgentError");

/** An error reply, as thrown by AgentClient.call. Test for it with isAgentError, not instanceof. */
export class AgentError extends Error {
  readonly [AGENT_ERROR] = true;

  constructor(
    readonly code: AgentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "AgentError";
  }
}

/**
 * True for an AgentError from any copy of this module. Next bundles server code once per layer (pages, route
 * handlers), and the agent client is shared between them on globalThis, so an error thrown by one copy's
 * class reaches code holding another copy's: instanceof would say no.
 */
export function isAgentError(error: unknown): error is AgentError {
  return error instanceof Error && (error as Partial<Record<typeof AGENT_ERROR, unknown>>)[AGENT_ERROR] === true;
}

export function errorReply(code: AgentErrorCode, message: string): AgentReply {
  return { ok: false, error: { code, message } };
}

// ---------------------------------------------------------------------------------------------------------
// 4. Wire encoding
// ---------------------------------------------------------------------------------------------------------

/** Requests are small; the agent refuses longer lines before parsing them. */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Replies carry whole tables (10,000 services is a few MB); the client refuses longer lines. */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

export const requestEnvelope = z.object({
  id: z.number().int().nonnegative(),
  op: z.string().max(100),
  input: z.unknown(),
});

export type RequestEnvelope = z.infer<typeof requestEnvelope>;
export type ReplyEnvelope = { id: number | null } & AgentReply;

export const replyEnvelope = z.union([
  z.object({ id: z.number().int().nonnegative().nullable(), ok: z.literal(true), output: z.unknown() }),
  z.object({
    id: z.number().int().nonnegative().nullable(),
    ok: z.literal(false),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
]);

/** One message as a line, bigint as {"$bigint":"..."}. A message without bigint is written without the replacer
 *  (a call per value): JSON.stringify throws a TypeError at the first bigint, and only then is it tagged. */
export function encodeLine(message: RequestEnvelope | ReplyEnvelope): string {
  try {
    return `${JSON.stringify(message)}\n`;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  return `${JSON.stringify(message, (_key, value: unknown) =>
    typeof value === "bigint" ? { $bigint: value.toString() } : value,
  )}\n`;
}

/** Parses one line (without its "\n"); throws SyntaxError when it is not JSON. A line without the text
 *  "$bigint" in quotes has no tagged value (JSON.stringify escapes neither "$" nor letters), so it is parsed
 *  without the reviver, which costs a call per value. (Not the bare word: ipvs.counters' base64 could hold it.) */
export function decodeLine(line: string): unknown {
  if (!line.includes('"$bigint"')) return JSON.parse(line);
  return JSON.parse(line, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const keys = Object.keys(value);
      const tagged = (value as { $bigint?: unknown }).$bigint;
      if (keys.length === 1 && typeof tagged === "string" && /^-?\d+$/.test(tagged)) return BigInt(tagged);
    }
    return value;
  });
}

// ---------------------------------------------------------------------------------------------------------
// 5. Where the socket is
// ---------------------------------------------------------------------------------------------------------

export const DEFAULT_AGENT_SOCKET = "/run/lvs-dashboard/agent.sock";

/** LVSDASH_AGENT_SOCKET, else /run/lvs-dashboard/agent.sock. */
export function agentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LVSDASH_AGENT_SOCKET || DEFAULT_AGENT_SOCKET;
}
