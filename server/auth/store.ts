// The auth store: users, sessions and the first-start setup token, in one SQLite file (better-sqlite3, WAL)
// in the data directory, beside the history store:
//
//   const store = AuthStore.open(dataDir());                 // <dir>/auth.sqlite (LVSDASH_DATA_DIR)
//   store.addUser("alice", "admin", await hashPassword(pw));
//   const { token } = store.createSession(user.id, { ip, userAgent });   // token goes in the cookie only
//   store.resolveSession(token);                             // the session, or null when unknown or expired
//
// Secrets are never stored as they are: passwords as scrypt hashes (password.ts), session and setup tokens as
// their SHA-256 (a token is 32 random bytes, so a fast hash is enough: nothing to brute-force). Someone who
// reads the file cannot log in with what they read.
//
// Sessions end when idle (default 30 min without a request) and in any case some time after login (default
// 12 h); changing a password ends the user's other sessions, removing a user ends all of them. Time comes from
// an injected clock, so tests move it instead of sleeping.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

import type Database from "better-sqlite3";

import { openDatabase } from "./sqlite";

export const ROLES = ["viewer", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** User names: a letter, then letters, digits, dot, dash, underscore; at most 32 (a Unix login's shape). */
export const USERNAME = /^[A-Za-z][A-Za-z0-9._-]{0,31}$/;

export interface User {
  id: number;
  name: string;
  role: Role;
  createdAt: number;
}

export interface Session {
  /** SHA-256 of the token (hex): what the store keys sessions by, safe to log and to show. */
  id: string;
  user: User;
  createdAt: number;
  lastSeen: number;
  /** When the session ends at the latest, however busy it is. */
  expiresAt: number;
  /** When it ends if no request comes before. */
  idleExpiresAt: number;
}

export interface SessionPolicy {
  /** A session unused this long ends (default 30 min). */
  idleMs: number;
  /** A session ends this long after login in any case (default 12 h). */
  absoluteMs: number;
  /** Sessions one user may hold; logging in again ends the oldest beyond it (default 20). */
  maxPerUser: number;
  /** The setup token is valid this long after it is printed (default 24 h). */
  setupTokenMs: number;
}

export const DEFAULT_POLICY: SessionPolicy = {
  idleMs: 30 * 60_000,
  absoluteMs: 12 * 60 * 60_000,
  maxPerUser: 20,
  setupTokenMs: 24 * 60 * 60_000,
};

/** last_seen is written at most this often per session: a page polling every second is not a write per second. */
const TOUCH_EVERY_MS = 15_000;

/** The policy from the environment: LVSDASH_SESSION_IDLE_MINUTES, LVSDASH_SESSION_MAX_HOURS. */
export function policyFromEnv(env: NodeJS.ProcessEnv = process.env): SessionPolicy {
  const num = (value: string | undefined, name: string, fallback: number, unitMs: number): number => {
    if (value === undefined || value === "") return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${value}"`);
    return n * unitMs;
  };
  return {
    ...DEFAULT_POLICY,
    idleMs: num(env.LVSDASH_SESSION_IDLE_MINUTES, "LVSDASH_SESSION_IDLE_MINUTES", DEFAULT_POLICY.idleMs, 60_000),
    absoluteMs: num(env.LVSDASH_SESSION_MAX_HOURS, "LVSDASH_SESSION_MAX_HOURS", DEFAULT_POLICY.absoluteMs, 3_600_000),
  };
}

/** A refusal the caller can show as it is (duplicate user, last admin, ...). */
export class AuthStoreError extends Error {
  override name = "AuthStoreError";
  constructor(
    readonly kind: "exists" | "not-found" | "last-admin" | "invalid",
    message: string,
  ) {
    super(message);
  }
}

export const AUTH_DB_FILE = "auth.sqlite";

const sha256 = (token: string) => createHash("sha256").update(token).digest("hex");
const newToken = () => randomBytes(32).toString("base64url");

interface UserRow {
  id: number;
  name: string;
  role: Role;
  password: string;
  created_at: number;
}

interface SessionRow {
  id: string;
  user_id: number;
  created_at: number;
  last_seen: number;
  expires_at: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
  password TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  password_changed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ip TEXT NOT NULL,
  user_agent TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at);
CREATE TABLE IF NOT EXISTS setup_token (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  hash TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
`;

export interface AuthStoreOptions {
  now?: () => number;
  policy?: Partial<SessionPolicy>;
}

export class AuthStore {
  readonly policy: SessionPolicy;
  private readonly now: () => number;
  private readonly stmt;

  private constructor(
    private readonly db: Database.Database,
    options: AuthStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.policy = { ...DEFAULT_POLICY, ...options.policy };
    db.exec(SCHEMA);
    this.stmt = {
      userByName: db.prepare<[string], UserRow>("SELECT * FROM users WHERE name = ?"),
      userById: db.prepare<[number], UserRow>("SELECT * FROM users WHERE id = ?"),
      users: db.prepare<[], UserRow>("SELECT * FROM users ORDER BY name"),
      admins: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM users WHERE role = 'admin'"),
      addUser: db.prepare<[string, Role, string, number, number]>(
        "INSERT INTO users (name, role, password, created_at, password_changed_at) VALUES (?, ?, ?, ?, ?)",
      ),
      removeUser: db.prepare<[number]>("DELETE FROM users WHERE id = ?"),
      setRole: db.prepare<[Role, number]>("UPDATE users SET role = ? WHERE id = ?"),
      setPassword: db.prepare<[string, number, number]>("UPDATE users SET password = ?, password_changed_at = ? WHERE id = ?"),
      rehash: db.prepare<[string, number]>("UPDATE users SET password = ? WHERE id = ?"),
      addSession: db.prepare<[string, number, number, number, number, string, string]>(
        "INSERT INTO sessions (id, user_id, created_at, last_seen, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      session: db.prepare<[string], SessionRow>("SELECT id, user_id, created_at, last_seen, expires_at FROM sessions WHERE id = ?"),
      touch: db.prepare<[number, string]>("UPDATE sessions SET last_seen = ? WHERE id = ?"),
      dropSession: db.prepare<[string]>("DELETE FROM sessions WHERE id = ?"),
      dropUserSessions: db.prepare<[number, string]>("DELETE FROM sessions WHERE user_id = ? AND id <> ?"),
      trimUserSessions: db.prepare<[number, number, number]>(
        "DELETE FROM sessions WHERE user_id = ? AND id NOT IN (SELECT id FROM sessions WHERE user_id = ? ORDER BY created_at DESC LIMIT ?)",
      ),
      expire: db.prepare<[number, number]>("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?"),
      sessionCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM sessions"),
      putSetup: db.prepare<[string, number]>("INSERT OR REPLACE INTO setup_token (id, hash, expires_at) VALUES (1, ?, ?)"),
      getSetup: db.prepare<[], { hash: string; expires_at: number }>("SELECT hash, expires_at FROM setup_token WHERE id = 1"),
      dropSetup: db.prepare("DELETE FROM setup_token"),
    };
  }

  /** Opens (creating if needed) `dir`/auth.sqlite; ":memory:" for a throw-away store. */
  static open(dir: string, options: AuthStoreOptions = {}): AuthStore {
    const db = openDatabase(dir, AUTH_DB_FILE);
    db.pragma("foreign_keys = ON");
    return new AuthStore(db, options);
  }

  close(): void {
    this.db.close();
  }

  // ---- users ------------------------------------------------------------------------------------------

  adminCount(): number {
    return this.stmt.admins.get()!.n;
  }

  listUsers(): User[] {
    return this.stmt.users.all().map(toUser);
  }

  /** The user and their stored password hash (for login), or null. */
  findUser(name: string): (User & { passwordHash: string }) | null {
    const row = this.stmt.userByName.get(name);
    return row ? { ...toUser(row), passwordHash: row.password } : null;
  }

  userById(id: number): User | null {
    const row = this.stmt.userById.get(id);
    return row ? toUser(row) : null;
  }

  addUser(name: string, role: Role, passwordHash: string): User {
    checkName(name);
    if (!ROLES.includes(role)) throw new AuthStoreError("invalid", `unknown role "${role}": viewer or admin`);
    if (this.stmt.userByName.get(name)) throw new AuthStoreError("exists", `a user named ${name} already exists`);
    const now = this.now();
    const { lastInsertRowid } = this.stmt.addUser.run(name, role, passwordHash, now, now);
    return { id: Number(lastInsertRowid), name, role, createdAt: now };
  }

  /** Removes a user and ends their sessions; the last admin cannot be removed. */
  removeUser(name: string): void {
    this.db.transaction(() => {
      const row = this.requireUser(name);
      if (row.role === "admin" && this.adminCount() === 1) {
        throw new AuthStoreError("last-admin", `${row.name} is the last admin: add another admin first`);
      }
      this.stmt.removeUser.run(row.id);
    })();
  }

  setRole(name: string, role: Role): User {
    return this.db.transaction(() => {
      const row = this.requireUser(name);
      if (row.role === "admin" && role !== "admin" && this.adminCount() === 1) {
        throw new AuthStoreError("last-admin", `${row.name} is the last admin: add another admin first`);
      }
      this.stmt.setRole.run(role, row.id);
      return { ...toUser(row), role };
    })();
  }

  /** Replaces the password hash and ends every session of the user except `keepSessionId` (the caller's). */
  setPassword(userId: number, passwordHash: string, keepSessionId = ""): void {
    this.db.transaction(() => {
      this.stmt.setPassword.run(passwordHash, this.now(), userId);
      this.stmt.dropUserSessions.run(userId, keepSessionId);
    })();
  }

  /** Stores the same password hashed with stronger parameters (at a login): sessions stay. */
  rehashPassword(userId: number, passwordHash: string): void {
    this.stmt.rehash.run(passwordHash, userId);
  }

  private requireUser(name: string): UserRow {
    const row = this.stmt.userByName.get(name);
    if (!row) throw new AuthStoreError("not-found", `no user named ${name}`);
    return row;
  }

  // ---- sessions ---------------------------------------------------------------------------------------

  /** A new session for the user: the token (for the cookie, shown nowhere else) and the session. */
  createSession(userId: number, meta: { ip: string; userAgent: string }): { token: string; session: Session } {
    const user = this.userById(userId);
    if (!user) throw new AuthStoreError("not-found", `no user with id ${userId}`);
    const token = newToken();
    const id = sha256(token);
    const now = this.now();
    const expiresAt = now + this.policy.absoluteMs;
    this.db.transaction(() => {
      // Sessions nobody presents again (a closed browser) are cleared here, at the next login of anyone.
      this.pruneSessions();
      this.stmt.addSession.run(id, userId, now, now, expiresAt, meta.ip.slice(0, 64), meta.userAgent.slice(0, 256));
      this.stmt.trimUserSessions.run(userId, userId, this.policy.maxPerUser);
    })();
    return { token, session: this.toSession({ id, user_id: userId, created_at: now, last_seen: now, expires_at: expiresAt }, user) };
  }

  /**
   * The session a cookie's token names, or null when there is none or it has expired (idle or absolute); an
   * expired session is deleted. A valid one counts as used now (its idle time starts again), unless
   * `touch: false` (a live stream checking that its session still holds is not the user doing something).
   */
  resolveSession(token: string, options: { touch?: boolean } = {}): Session | null {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const id = sha256(token);
    const row = this.stmt.session.get(id);
    if (!row) return null;
    const now = this.now();
    if (now >= row.expires_at || now - row.last_seen >= this.policy.idleMs) {
      this.stmt.dropSession.run(id);
      return null;
    }
    const user = this.userById(row.user_id);
    if (!user) return null;
    if (options.touch !== false && now - row.last_seen >= TOUCH_EVERY_MS) {
      this.stmt.touch.run(now, id);
      row.last_seen = now;
    }
    return this.toSession(row, user);
  }

  /** Ends the session with this id (Session.id). */
  endSession(id: string): void {
    this.stmt.dropSession.run(id);
  }

  /** Deletes every expired session (createSession does; resolveSession already refuses them). */
  pruneSessions(): number {
    const now = this.now();
    return this.stmt.expire.run(now, now - this.policy.idleMs).changes;
  }

  sessionCount(): number {
    return this.stmt.sessionCount.get()!.n;
  }

  private toSession(row: SessionRow, user: User): Session {
    return {
      id: row.id,
      user,
      createdAt: row.created_at,
      lastSeen: row.last_seen,
      expiresAt: row.expires_at,
      idleExpiresAt: Math.min(row.expires_at, row.last_seen + this.policy.idleMs),
    };
  }

  // ---- first start ------------------------------------------------------------------------------------

  /**
   * A new one-time setup token, replacing any earlier one, while there is no admin; null once there is one.
   * Whoever presents it may create the first admin (setupFirstAdmin).
   */
  createSetupToken(): string | null {
    if (this.adminCount() > 0) {
      this.stmt.dropSetup.run();
      return null;
    }
    const token = newToken();
    this.stmt.putSetup.run(sha256(token), this.now() + this.policy.setupTokenMs);
    return token;
  }

  /** True while there is no admin and `token` is the current, unexpired setup token. */
  setupTokenValid(token: string): boolean {
    if (this.adminCount() > 0) return false;
    const row = this.stmt.getSetup.get();
    if (!row || this.now() >= row.expires_at) return false;
    return timingSafeEqual(Buffer.from(sha256(token), "hex"), Buffer.from(row.hash, "hex"));
  }

  /** Creates the first admin with the setup token, which is then spent. One transaction: two racing requests
   *  with the same token cannot both succeed. */
  setupFirstAdmin(token: string, name: string, passwordHash: string): User {
    return this.db.transaction(() => {
      if (!this.setupTokenValid(token)) {
        throw new AuthStoreError("invalid", "the setup link is not valid (used, expired, or an admin exists already)");
      }
      const user = this.addUser(name, "admin", passwordHash);
      this.stmt.dropSetup.run();
      return user;
    }).immediate();
  }
}

function toUser(row: UserRow): User {
  return { id: row.id, name: row.name, role: row.role, createdAt: row.created_at };
}

function checkName(name: string): void {
  if (!USERNAME.test(name)) {
    throw new AuthStoreError("invalid", "a user name is a letter, then up to 31 letters, digits, '.', '-' or '_'");
  }
}
