// Login throttling: per client address and per user name, exponential backoff after a few failures, and a
// hard bound on everything a flood of unauthenticated requests can make the server hold.
//
//   const limiter = new LoginLimiter();
//   const attempt = limiter.begin({ ip, user });   // throws LoginRefused (429) when throttled or full
//   try { ok = await limiter.gate(() => verifyPassword(...)) } finally { attempt.end(ok) }
//
// Per key (an address, a user name) a record counts consecutive failures. The first `free` failures cost
// nothing; after that each failure doubles the wait before the next attempt (1 s, 2 s, 4 s ... up to 15 min).
// A success clears the user's record; a record with no failure for `forgetAfterMs` is forgotten. A key may
// have only a few attempts in flight at once, so a burst of parallel requests cannot outrun the counting.
//
// Bounds (what a login flood can cost, whatever it sends):
//   - records: at most `maxTracked` per kind (addresses, users). A new key at the limit takes the place of the
//     least recently failed record that is not blocking anyone; when every record is blocking, the new key is
//     refused (fail closed) rather than forgetting a lock-out.
//   - password checks: at most `maxConcurrent` scrypt runs at once (each holds 64 MiB) and `maxQueued`
//     waiting; beyond that a login is refused at once with 429.
// The address is what Next.js puts in X-Forwarded-For (the socket's, or a reverse proxy's): a client talking
// to the server directly can forge it, so the per-user record and the global bounds are what cannot be
// evaded; the per-address one slows down honest-looking floods.

export interface LimiterOptions {
  now?: () => number;
  /** Records kept per kind (addresses, user names). */
  maxTracked?: number;
  /** Failures before the backoff starts: per user, per address. */
  freeUserFailures?: number;
  freeIpFailures?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  forgetAfterMs?: number;
  /** Attempts in flight at once per user name and per address. */
  userInFlight?: number;
  ipInFlight?: number;
  /** Password checks running at once, and waiting. */
  maxConcurrent?: number;
  maxQueued?: number;
}

const DEFAULTS: Required<Omit<LimiterOptions, "now">> = {
  maxTracked: 10_000,
  freeUserFailures: 5,
  freeIpFailures: 20,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 30 * 60_000,
  userInFlight: 1,
  ipInFlight: 4,
  maxConcurrent: 2,
  maxQueued: 16,
};

/** A login refused before any password was checked: answer 429 with Retry-After. */
export class LoginRefused extends Error {
  override name = "LoginRefused";
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

interface Record {
  failures: number;
  lastFailure: number;
  blockedUntil: number;
  inFlight: number;
}

export interface LoginKeys {
  ip: string;
  user: string;
}

export interface Attempt {
  /** Reports the outcome (true: the password was right) and releases the attempt. Call exactly once. */
  end(ok: boolean): void;
}

class BoundedRecords {
  readonly map = new Map<string, Record>();
  constructor(
    private readonly max: number,
    private readonly forgetAfterMs: number,
  ) {}

  get(key: string, now: number): Record | undefined {
    const r = this.map.get(key);
    if (r && r.inFlight === 0 && r.blockedUntil <= now && now - r.lastFailure >= this.forgetAfterMs) {
      this.map.delete(key);
      return undefined;
    }
    return r;
  }

  /** The key's record, created if needed; null when the table is full of records that must be kept. */
  getOrCreate(key: string, now: number): Record | null {
    const existing = this.get(key, now);
    if (existing) return existing;
    if (this.map.size >= this.max && !this.evictOne(now)) return null;
    const r: Record = { failures: 0, lastFailure: now, blockedUntil: 0, inFlight: 0 };
    this.map.set(key, r);
    return r;
  }

  /** Moves a record to the young end (Map order = least recently failed first). */
  refresh(key: string, r: Record): void {
    this.map.delete(key);
    this.map.set(key, r);
  }

  private evictOne(now: number): boolean {
    for (const [key, r] of this.map) {
      if (r.inFlight === 0 && r.blockedUntil <= now) {
        this.map.delete(key);
        return true;
      }
    }
    return false;
  }
}

export class LoginLimiter {
  private readonly o: Required<Omit<LimiterOptions, "now">>;
  private readonly now: () => number;
  private readonly users: BoundedRecords;
  private readonly ips: BoundedRecords;
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(options: LimiterOptions = {}) {
    const { now, ...rest } = options;
    this.now = now ?? Date.now;
    this.o = { ...DEFAULTS, ...rest };
    this.users = new BoundedRecords(this.o.maxTracked, this.o.forgetAfterMs);
    this.ips = new BoundedRecords(this.o.maxTracked, this.o.forgetAfterMs);
  }

  /** Starts an attempt for these keys, or throws LoginRefused. User names are compared case-insensitively. */
  begin(keys: LoginKeys): Attempt {
    const now = this.now();
    const userKey = keys.user.toLowerCase();
    const ip = this.ips.getOrCreate(keys.ip, now);
    const user = this.users.getOrCreate(userKey, now);
    if (!ip || !user) {
      throw new LoginRefused("too many failed logins from too many clients: try again in a minute", 60_000);
    }
    const wait = Math.max(ip.blockedUntil, user.blockedUntil) - now;
    if (wait > 0) throw new LoginRefused(`too many failed logins: try again in ${Math.ceil(wait / 1000)} s`, wait);
    if (user.inFlight >= this.o.userInFlight || ip.inFlight >= this.o.ipInFlight) {
      throw new LoginRefused("a login for this user or from this address is already in progress", 1_000);
    }
    ip.inFlight++;
    user.inFlight++;
    let ended = false;
    return {
      end: (ok) => {
        if (ended) return;
        ended = true;
        ip.inFlight--;
        user.inFlight--;
        const t = this.now();
        if (ok) {
          user.failures = 0;
          user.blockedUntil = 0;
          return;
        }
        this.fail(this.ips, keys.ip, ip, this.o.freeIpFailures, t);
        this.fail(this.users, userKey, user, this.o.freeUserFailures, t);
      },
    };
  }

  private fail(table: BoundedRecords, key: string, r: Record, free: number, now: number): void {
    r.failures++;
    r.lastFailure = now;
    if (r.failures >= free) {
      r.blockedUntil = now + Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.min(30, r.failures - free));
    }
    table.refresh(key, r);
  }

  /** Runs `check` (a password check) when a slot is free; refuses at once when the queue is full. */
  async gate<T>(check: () => Promise<T>): Promise<T> {
    if (this.running >= this.o.maxConcurrent) {
      if (this.queue.length >= this.o.maxQueued) throw new LoginRefused("the server is busy checking other logins: try again", 1_000);
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await check();
    } finally {
      // Hand the slot straight to the next waiter (running stays the same), or free it.
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** What the limiter holds now (for tests and the log). */
  stats(): { users: number; ips: number; running: number; queued: number } {
    return { users: this.users.map.size, ips: this.ips.map.size, running: this.running, queued: this.queue.length };
  }
}
