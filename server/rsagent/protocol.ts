// The real-server agent's protocol: what a dashboard may ask a real server's agent (`lvsdash rs-agent`) to do.
// Same pattern as the director's agent (server/agent/protocol.ts): an op table built with op(), zod schemas
// that refuse unknown keys, the dispatcher of server/agent/dispatcher.ts, AgentReply replies. The transport
// is HTTP(S) with a bearer token (http.ts) instead of a Unix socket:
//
//   POST /v1/ops/rs.facts          Authorization: Bearer <token>     Content-Type: application/json
//   {}                                                               (the op's input; at most 64 KiB)
//   200 {"ok":true,"output":{...}}   4xx/5xx {"ok":false,"error":{"code":"invalid_input","message":"..."}}
//
// The steps are the wizard's real-server steps (server/wizards/plan.ts RealServerStep): the plan a wizard
// shows for a real server is what rs.apply runs, with an undo journal, and commit-confirmed like the director:
// unless rs.confirm arrives in time, the rs-agent's own timer rolls everything back. A dashboard that goes
// away mid-apply (closed connection) or after it (no confirm) leaves the real server as it was.
import { z } from "zod";

import { op } from "@/server/agent/protocol";
import { isRsModule, RS_MODULES, type RealServerFacts } from "@/server/kernel/rsnet";
import type { RealServerStep } from "@/server/wizards/plan";

// ---------------------------------------------------------------------------------------------------------
// 1. Inputs
// ---------------------------------------------------------------------------------------------------------

/** The brief's interface name rule, narrowed: no leading "-" (argv), not "." or "..". */
const ifname = z
  .string()
  .regex(/^[a-zA-Z0-9_.-]{1,15}$/, "not an interface name (1-15 letters, digits, '_', '.', '-')")
  .refine((s) => !s.startsWith("-") && s !== "." && s !== "..", "not an interface name");

const ipv4 = z
  .string()
  .regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, "not an IPv4 address")
  .refine((s) => s.split(".").every((p) => Number(p) <= 255 && (p === "0" || !p.startsWith("0"))), "not an IPv4 address");

/** sysctl keys as the wizard writes them; server/kernel/rsnet.ts parseSysctlKey decides which are allowed. */
const sysctlKey = z.string().regex(/^net[./]ipv4[./][a-zA-Z0-9_./-]{1,80}$/, "not a net.ipv4 sysctl key");

export const realServerStep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("sysctl"), key: sysctlKey, value: z.string().regex(/^\d{1,3}$/, "a small whole number") }).strict(),
  z.object({ kind: z.literal("address"), ifname, address: ipv4, prefixLen: z.number().int().min(0).max(32) }).strict(),
  z.object({ kind: z.literal("link-up"), ifname }).strict(),
  z.object({ kind: z.literal("module"), name: z.string().refine((n): boolean => isRsModule(n), `the real-server agent loads only ${RS_MODULES.join(", ")}`) }).strict(),
  z.object({ kind: z.literal("default-route"), via: ipv4 }).strict(),
]);

// The schema must describe exactly the wizard's RealServerStep (a plan's steps go to rs.apply as they are):
// a change there fails the type check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const STEP_SCHEMA_MATCHES_WIZARD: Same<z.output<typeof realServerStep>, RealServerStep> = true;

export const MAX_STEPS = 64;
export const TRANSACTION_ID = /^[a-f0-9]{16}$/;
const transactionId = z.string().regex(TRANSACTION_ID, "not a transaction id");

export const rsApplyInput = z
  .object({
    steps: z.array(realServerStep).min(1).max(MAX_STEPS),
    /** Commit-confirmed: without rs.confirm within this many seconds the rs-agent rolls everything back. */
    confirmTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------------
// 2. Outputs
// ---------------------------------------------------------------------------------------------------------

/** What a step did: changed (and can be undone), or nothing to do (already so: EEXIST, equal value). */
export interface StepResult {
  step: RealServerStep;
  outcome: "changed" | "unchanged";
  detail?: string;
}

export interface RollbackReport {
  /** Undo records run, newest first. */
  undone: string[];
  /** Undo records that failed (the real server may differ from before: each says what). */
  errors: string[];
}

export type RsApplyResult =
  /** Applied; rolled back at `deadline` (ms since the epoch) unless confirmed. */
  | { status: "pending"; id: string; deadline: number; steps: StepResult[] }
  /** A step failed (or the request went away): what was done is undone. */
  | { status: "rolled-back"; failedStep: number; error: string; steps: StepResult[]; rollback: RollbackReport }
  /** Another transaction waits for its confirmation: confirm or roll it back first. */
  | { status: "busy"; pending: string };

export interface TransactionRecord {
  id: string;
  /** pending: applied, waiting; confirmed; rolled-back: by rs.rollback, the timer, or a failed step. */
  state: "pending" | "confirmed" | "rolled-back";
  /** aborted: the request went away, or the agent stopped; restart: found pending when the agent started
   *  (it had died with the change unconfirmed). */
  reason?: "failed-step" | "rollback-requested" | "confirm-timeout" | "aborted" | "restart";
  startedAt: number;
  deadline?: number;
  endedAt?: number;
  steps: StepResult[];
  rollback?: RollbackReport;
}

export interface RsStatus {
  hostname: string;
  pending: TransactionRecord | null;
  /** The last finished transactions, newest first (at most 10). */
  recent: TransactionRecord[];
}

// ---------------------------------------------------------------------------------------------------------
// 3. The operation table
// ---------------------------------------------------------------------------------------------------------

const noInput = z.object({}).strict();

export const RS_OPS = {
  /** Addresses, routes, allow-listed sysctls of every interface, ipip, tunl0, hostname (RealServerFacts). */
  "rs.facts": op<RealServerFacts>()({ input: noInput, timeoutMs: 10_000 }),
  /** Runs the steps in order with an undo journal; any failure undoes them; success waits for rs.confirm. */
  "rs.apply": op<RsApplyResult>()({ input: rsApplyInput, timeoutMs: 60_000 }),
  /** Keeps the pending transaction. */
  "rs.confirm": op<TransactionRecord>()({ input: z.object({ id: transactionId }).strict(), timeoutMs: 10_000 }),
  /** Undoes the pending transaction now. */
  "rs.rollback": op<TransactionRecord>()({ input: z.object({ id: transactionId }).strict(), timeoutMs: 60_000 }),
  /** The pending transaction and the recent ones. */
  "rs.status": op<RsStatus>()({ input: noInput, timeoutMs: 5_000 }),
};

export type RsOpName = keyof typeof RS_OPS;
export type RsOpInput<K extends RsOpName> = z.input<(typeof RS_OPS)[K]["input"]>;
export type RsOpOutput<K extends RsOpName> = (typeof RS_OPS)[K] extends { readonly output?: infer O } ? Exclude<O, undefined> : never;

export function isRsOpName(name: string): name is RsOpName {
  return Object.hasOwn(RS_OPS, name);
}

// ---------------------------------------------------------------------------------------------------------
// 4. HTTP
// ---------------------------------------------------------------------------------------------------------

export const RS_OP_PATH = "/v1/ops/";
/** Requests are step lists: 64 KiB is far more than 64 steps. */
export const RS_MAX_REQUEST_BYTES = 64 * 1024;
/** Facts of a host with many interfaces stay well under this. */
export const RS_MAX_REPLY_BYTES = 8 * 1024 * 1024;
/** The default port of `lvsdash rs-agent`. */
export const RS_DEFAULT_PORT = 9443;
