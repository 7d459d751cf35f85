// Auth as the web server uses it: login (throttled, constant-time whatever the user name), logout, the session
// behind a request's cookie, the first admin, password changes. One AuthService per process, over the auth
// store and the login limiter; the audit log beside it.
//
//   const { auth, audit } = authRuntime();        // opened once from LVSDASH_DATA_DIR, cached on globalThis
//   const session = auth.sessionFor(facts);       // facts = requestFacts(headers) (http.ts)
import { dataDir } from "@/server/history/store";
import { AuditLog } from "@/server/audit/log";

import { LoginLimiter, LoginRefused, type LimiterOptions } from "./limiter";
import { DEFAULT_SCRYPT, dummyHash, hashPassword, needsRehash, passwordProblem, verifyPassword, type ScryptParams } from "./password";
import { AuthStore, AuthStoreError, policyFromEnv, type Role, type Session, type User } from "./store";
import type { RequestFacts } from "./http";

export { LoginRefused };

/** A refusal to show the user as it is: wrong credentials, a weak password, an invalid setup link. */
export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly kind: "credentials" | "invalid" | "forbidden" | "conflict",
    message: string,
  ) {
    super(message);
  }
}

/**
 * Type guards by name and fields, not instanceof: Next bundles a module once per layer (the proxy's copy
 * creates the shared AuthService, the route's copy catches its errors), so classes differ between copies.
 */
export function isAuthError(e: unknown): e is AuthError {
  return e instanceof Error && e.name === "AuthError" && typeof (e as { kind?: unknown }).kind === "string";
}

export function isLoginRefused(e: unknown): e is LoginRefused {
  return e instanceof Error && e.name === "LoginRefused" && typeof (e as { retryAfterMs?: unknown }).retryAfterMs === "number";
}

/** The one message for a wrong user name or a wrong password: which of the two is not told. */
export const BAD_CREDENTIALS = "wrong user name or password";

export interface AuthServiceOptions {
  limiter?: LimiterOptions;
  scrypt?: ScryptParams;
}

export class AuthService {
  readonly limiter: LoginLimiter;
  private readonly scrypt: ScryptParams;

  constructor(
    readonly store: AuthStore,
    options: AuthServiceOptions = {},
  ) {
    this.limiter = new LoginLimiter(options.limiter);
    this.scrypt = options.scrypt ?? DEFAULT_SCRYPT;
  }

  /** The valid session a request's cookie names, or null. */
  sessionFor(facts: Pick<RequestFacts, "token">): Session | null {
    return facts.token ? this.store.resolveSession(facts.token) : null;
  }

  /**
   * Checks a user name and password and opens a session. Throws LoginRefused (throttled: 429) before any
   * password work, or AuthError("credentials") for a wrong name or password, which take the same time.
   */
  async login(name: string, password: string, facts: Pick<RequestFacts, "ip" | "userAgent">): Promise<{ token: string; session: Session }> {
    const attempt = this.limiter.begin({ ip: facts.ip, user: name });
    let ok = false;
    try {
      const user = this.store.findUser(name);
      const stored = user?.passwordHash ?? (await dummyHash(this.scrypt));
      const matches = await this.limiter.gate(() => verifyPassword(password, stored));
      ok = matches && user !== null;
      if (!ok || !user) throw new AuthError("credentials", BAD_CREDENTIALS);
      if (needsRehash(user.passwordHash, this.scrypt)) this.store.rehashPassword(user.id, await this.limiter.gate(() => hashPassword(password, this.scrypt)));
      return this.store.createSession(user.id, facts);
    } finally {
      attempt.end(ok);
    }
  }

  logout(session: Session): void {
    this.store.endSession(session.id);
  }

  /** Creates the first admin with the setup token and signs them in. */
  async setupFirstAdmin(token: string, name: string, password: string, facts: Pick<RequestFacts, "ip" | "userAgent">): Promise<{ token: string; session: Session }> {
    // The token is 256 random bits, but the attempts still count against the address (and "setup").
    const attempt = this.limiter.begin({ ip: facts.ip, user: "(setup)" });
    let ok = false;
    try {
      if (!this.store.setupTokenValid(token)) throw new AuthError("forbidden", "the setup link is not valid (used, expired, or an admin exists already)");
      ok = true;
      const problem = passwordProblem(password, name);
      if (problem) throw new AuthError("invalid", problem);
      const hash = await this.limiter.gate(() => hashPassword(password, this.scrypt));
      const user = this.wrap(() => this.store.setupFirstAdmin(token, name, hash));
      return this.store.createSession(user.id, facts);
    } finally {
      attempt.end(ok);
    }
  }

  /** Changes the signed-in user's password (the current one is asked again); ends their other sessions. */
  async changePassword(session: Session, current: string, next: string, facts: Pick<RequestFacts, "ip">): Promise<void> {
    const attempt = this.limiter.begin({ ip: facts.ip, user: session.user.name });
    let ok = false;
    try {
      const user = this.store.findUser(session.user.name);
      ok = user !== null && (await this.limiter.gate(() => verifyPassword(current, user.passwordHash)));
      if (!ok || !user) throw new AuthError("credentials", "the current password is wrong");
      const problem = passwordProblem(next, user.name);
      if (problem) throw new AuthError("invalid", problem);
      this.store.setPassword(user.id, await this.limiter.gate(() => hashPassword(next, this.scrypt)), session.id);
    } finally {
      attempt.end(ok);
    }
  }

  async addUser(name: string, role: Role, password: string): Promise<User> {
    const problem = passwordProblem(password, name);
    if (problem) throw new AuthError("invalid", problem);
    if (this.store.findUser(name)) throw new AuthError("conflict", `a user named ${name} already exists`);
    const hash = await this.limiter.gate(() => hashPassword(password, this.scrypt));
    return this.wrap(() => this.store.addUser(name, role, hash));
  }

  removeUser(name: string): void {
    this.wrap(() => this.store.removeUser(name));
  }

  setRole(name: string, role: Role): User {
    return this.wrap(() => this.store.setRole(name, role));
  }

  /** Store refusals as AuthErrors (the router maps those to tRPC codes). */
  private wrap<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof Error && e.name === "AuthStoreError") {
        const storeKind = (e as AuthStoreError).kind;
        const kind = storeKind === "exists" || storeKind === "last-admin" ? "conflict" : "invalid";
        throw new AuthError(kind, e.message);
      }
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The process's one auth service and audit log
// ---------------------------------------------------------------------------------------------------------

export interface AuthRuntime {
  auth: AuthService;
  audit: AuditLog;
}

const globalForAuth = globalThis as unknown as { lvsdashAuth?: AuthRuntime };

/**
 * The auth service and audit log of this process, opened from the data directory (LVSDASH_DATA_DIR, else
 * /var/lib/lvs-dashboard) on first use and cached on globalThis (Next's dev server re-evaluates modules).
 */
export function authRuntime(): AuthRuntime {
  if (!globalForAuth.lvsdashAuth) {
    const dir = dataDir();
    try {
      const store = AuthStore.open(dir, { policy: policyFromEnv() });
      globalForAuth.lvsdashAuth = { auth: new AuthService(store), audit: AuditLog.open(dir) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const hint =
        code === "EACCES" || code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY"
          ? `: the web server (user ${process.env.USER ?? "?"}) must be able to write there ` +
            `(as root: mkdir -p ${dir} && chown lvsdash: ${dir}), or set LVSDASH_DATA_DIR`
          : "";
      throw new Error(`cannot open the auth store in ${dir}${hint} (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
  }
  return globalForAuth.lvsdashAuth;
}
