// The audit log: who did what, when, from where, with which input, what it changed and how it ended, in one
// SQLite file (better-sqlite3, WAL) in the data directory (audit.sqlite, beside auth.sqlite and history).
//
//   const audit = AuditLog.open(dataDir());
//   audit.record({ user: "alice", role: "admin", ip, op: "wizards.apply", kind: "mutation",
//                  input: summarizeInput(input), result: "ok", diff, durationMs });
//   audit.query({ user: "alice", result: "error", offset: 0, limit: 50 });
//
// Every tRPC mutation is recorded by adminProcedure itself (server/api/trpc.ts): who, the procedure's path,
// the input with secrets redacted, ok or the error. A mutation adds what only it knows through the entry
// draft in its context (ctx.audit: the diff it applied, a rollback it did). Logins, logouts, failed logins
// and the first-admin setup are recorded by the auth router; `lvsdash user` records its changes (kind "cli").
//
// Rows are never updated or deleted one by one; the oldest go when there are more than `maxRows` (default
// 200,000: years of an operator's changes, and a bounded file under a flood of failed logins).
import type Database from "better-sqlite3";

import { openDatabase } from "@/server/auth/sqlite";

export const AUDIT_DB_FILE = "audit.sqlite";
export const AUDIT_RESULTS = ["ok", "error", "refused"] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];
export const AUDIT_KINDS = ["mutation", "auth", "cli", "agent"] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

export interface AuditInput {
  /** The user name, or "-" when nobody is signed in (a failed login names the user it tried). */
  user: string;
  role: string | null;
  ip: string;
  /** The operation: a tRPC procedure path ("wizards.apply"), "auth.login", "cli.user.add". */
  op: string;
  kind: AuditKind;
  /** The input as summarizeInput (redact.ts) wrote it. */
  input: string;
  result: AuditResult;
  error?: string | null;
  /** What the operation changed: a diff or plan, as text. */
  diff?: string | null;
  /** What was undone when it failed or was not confirmed, as text. */
  rollback?: string | null;
  durationMs?: number | null;
}

export interface AuditEntry extends Required<AuditInput> {
  id: number;
  at: number;
}

export interface AuditQuery {
  user?: string;
  /** An operation, or a prefix of one ending in "." ("wizards." for every wizard operation). */
  op?: string;
  result?: AuditResult;
  offset?: number;
  limit?: number;
}

export interface AuditPage {
  entries: AuditEntry[];
  total: number;
  offset: number;
  limit: number;
}

const MAX_TEXT = 64 * 1024;
const cut = (s: string | null | undefined, max = MAX_TEXT) => (s == null ? null : s.length > max ? `${s.slice(0, max - 1)}…` : s);

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  user TEXT NOT NULL,
  role TEXT,
  ip TEXT NOT NULL,
  op TEXT NOT NULL,
  kind TEXT NOT NULL,
  input TEXT NOT NULL,
  result TEXT NOT NULL,
  error TEXT,
  diff TEXT,
  rollback TEXT,
  duration_ms INTEGER
);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user, id);
CREATE INDEX IF NOT EXISTS audit_op ON audit (op, id);
CREATE INDEX IF NOT EXISTS audit_result ON audit (result, id);
`;

interface Row {
  id: number;
  at: number;
  user: string;
  role: string | null;
  ip: string;
  op: string;
  kind: AuditKind;
  input: string;
  result: AuditResult;
  error: string | null;
  diff: string | null;
  rollback: string | null;
  duration_ms: number | null;
}

export interface AuditLogOptions {
  now?: () => number;
  maxRows?: number;
}

export class AuditLog {
  private readonly now: () => number;
  private readonly maxRows: number;
  private sincePrune = 0;
  private readonly insert;
  private readonly prune;

  private constructor(
    private readonly db: Database.Database,
    options: AuditLogOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.maxRows = options.maxRows ?? 200_000;
    db.exec(SCHEMA);
    this.insert = db.prepare(
      `INSERT INTO audit (at, user, role, ip, op, kind, input, result, error, diff, rollback, duration_ms)
       VALUES (@at, @user, @role, @ip, @op, @kind, @input, @result, @error, @diff, @rollback, @duration_ms)`,
    );
    this.prune = db.prepare<[number]>("DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - ?");
  }

  /** Opens (creating if needed) `dir`/audit.sqlite; ":memory:" for a throw-away log. */
  static open(dir: string, options: AuditLogOptions = {}): AuditLog {
    return new AuditLog(openDatabase(dir, AUDIT_DB_FILE), options);
  }

  close(): void {
    this.db.close();
  }

  /** Appends one entry; returns its id. */
  record(entry: AuditInput): number {
    const { lastInsertRowid } = this.insert.run({
      at: this.now(),
      user: cut(entry.user, 64),
      role: entry.role,
      ip: cut(entry.ip, 64),
      op: cut(entry.op, 200),
      kind: entry.kind,
      input: cut(entry.input) ?? "",
      result: entry.result,
      error: cut(entry.error, 2000),
      diff: cut(entry.diff),
      rollback: cut(entry.rollback),
      duration_ms: entry.durationMs ?? null,
    });
    if (++this.sincePrune >= 500) {
      this.sincePrune = 0;
      this.prune.run(this.maxRows);
    }
    return Number(lastInsertRowid);
  }

  /** Newest first, filtered; `total` counts every match. */
  query(q: AuditQuery = {}): AuditPage {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (q.user) {
      where.push("user = @user");
      params.user = q.user;
    }
    if (q.op) {
      if (q.op.endsWith(".")) {
        where.push("substr(op, 1, length(@op)) = @op");
      } else {
        where.push("op = @op");
      }
      params.op = q.op;
    }
    if (q.result) {
      where.push("result = @result");
      params.result = q.result;
    }
    const clause = where.length ? `WHERE ${where.join(" AND ")}` : "";
    const limit = Math.min(Math.max(1, q.limit ?? 50), 200);
    const offset = Math.max(0, q.offset ?? 0);
    const rows = this.db
      .prepare(`SELECT * FROM audit ${clause} ORDER BY id DESC LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit, offset }) as Row[];
    const total = (this.db.prepare(`SELECT count(*) AS n FROM audit ${clause}`).get(params) as { n: number }).n;
    return { entries: rows.map(toEntry), total, offset, limit };
  }

  /** The users and operations that occur in the log (for the page's filters). */
  facets(): { users: string[]; ops: string[] } {
    const users = (this.db.prepare("SELECT DISTINCT user FROM audit ORDER BY user LIMIT 500").all() as { user: string }[]).map((r) => r.user);
    const ops = (this.db.prepare("SELECT DISTINCT op FROM audit ORDER BY op LIMIT 500").all() as { op: string }[]).map((r) => r.op);
    return { users, ops };
  }
}

function toEntry(r: Row): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    user: r.user,
    role: r.role,
    ip: r.ip,
    op: r.op,
    kind: r.kind,
    input: r.input,
    result: r.result,
    error: r.error,
    diff: r.diff,
    rollback: r.rollback,
    durationMs: r.duration_ms,
  };
}
