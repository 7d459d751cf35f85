// Login throttling: backoff per user and per address, and the bounds a login flood runs into (records,
// concurrent password checks), on an injected clock.
import { describe, expect, it } from "vitest";

import { LoginLimiter, LoginRefused } from "@/server/auth/limiter";

function clocked(options: ConstructorParameters<typeof LoginLimiter>[0] = {}) {
  let t = 1_000_000;
  const limiter = new LoginLimiter({ ...options, now: () => t });
  return { limiter, advance: (ms: number) => (t += ms) };
}

const fail = (l: LoginLimiter, ip: string, user: string) => l.begin({ ip, user }).end(false);

describe("backoff", () => {
  it("lets 5 failures for a user through, then makes each further attempt wait twice as long", () => {
    const { limiter, advance } = clocked();
    for (let i = 0; i < 5; i++) fail(limiter, `192.0.2.${i}`, "admin");
    expect(() => limiter.begin({ ip: "198.51.100.1", user: "admin" })).toThrow(LoginRefused); // another address too
    advance(999);
    expect(() => limiter.begin({ ip: "198.51.100.1", user: "admin" })).toThrow(/try again in 1 s/);
    advance(1);
    fail(limiter, "198.51.100.1", "ADMIN"); // names compare case-insensitively: 6th failure -> 2 s
    advance(1_999);
    expect(() => limiter.begin({ ip: "198.51.100.1", user: "admin" })).toThrow(LoginRefused);
    advance(1);
    fail(limiter, "198.51.100.1", "admin"); // 7th -> 4 s
    advance(3_999);
    const e = (() => {
      try {
        limiter.begin({ ip: "198.51.100.1", user: "admin" });
      } catch (err) {
        return err as LoginRefused;
      }
      return null;
    })();
    expect(e?.retryAfterMs).toBe(1);
  });

  it("caps the wait at 15 minutes", () => {
    const { limiter, advance } = clocked();
    for (let i = 0; i < 40; i++) {
      fail(limiter, `192.0.2.${i}`, "admin");
      advance(15 * 60_000);
    }
    fail(limiter, "192.0.2.41", "admin");
    advance(15 * 60_000 - 1);
    expect(() => limiter.begin({ ip: "192.0.2.250", user: "admin" })).toThrow(/try again in 1 s/);
    advance(1);
    expect(() => limiter.begin({ ip: "192.0.2.250", user: "admin" })).not.toThrow();
  });

  it("throttles an address that tries many users (20 free failures)", () => {
    const { limiter } = clocked();
    for (let i = 0; i < 20; i++) fail(limiter, "203.0.113.9", `user${i}`);
    expect(() => limiter.begin({ ip: "203.0.113.9", user: "someone-new" })).toThrow(LoginRefused);
    expect(() => limiter.begin({ ip: "203.0.113.10", user: "someone-new" }).end(true)).not.toThrow();
  });

  it("clears a user's failures on success", () => {
    const { limiter, advance } = clocked();
    for (let i = 0; i < 4; i++) fail(limiter, "192.0.2.1", "alice");
    limiter.begin({ ip: "192.0.2.1", user: "alice" }).end(true);
    for (let i = 0; i < 4; i++) fail(limiter, "192.0.2.1", "alice");
    expect(() => limiter.begin({ ip: "192.0.2.1", user: "alice" }).end(true)).not.toThrow();
    advance(0);
  });

  it("allows one attempt in flight per user: parallel guesses cannot outrun the counting", () => {
    const { limiter } = clocked();
    const first = limiter.begin({ ip: "192.0.2.1", user: "alice" });
    expect(() => limiter.begin({ ip: "192.0.2.2", user: "alice" })).toThrow(/in progress/);
    first.end(false);
    expect(() => limiter.begin({ ip: "192.0.2.2", user: "alice" }).end(false)).not.toThrow();
  });
});

describe("login flood", () => {
  it("keeps at most maxTracked records whatever the number of names and addresses", () => {
    const { limiter } = clocked({ maxTracked: 1000 });
    let refused = 0;
    for (let i = 0; i < 50_000; i++) {
      try {
        limiter.begin({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, user: `u${i}` }).end(false);
      } catch (e) {
        if (!(e instanceof LoginRefused)) throw e;
        refused++;
      }
    }
    const s = limiter.stats();
    expect(s.users).toBeLessThanOrEqual(1000);
    expect(s.ips).toBeLessThanOrEqual(1000);
    expect(refused).toBe(0); // one failure each blocks nobody, so old records make room
  });

  it("does not forget a locked-out user to make room: a flood of new names is refused instead", () => {
    const { limiter } = clocked({ maxTracked: 100, freeIpFailures: 1_000_000 });
    for (let i = 0; i < 5; i++) fail(limiter, "192.0.2.1", "admin"); // admin is locked out
    // Fill the table with locked-out names (5 failures each) so no record may be evicted.
    for (let u = 0; u < 99; u++) for (let i = 0; i < 5; i++) fail(limiter, "192.0.2.1", `x${u}`);
    expect(limiter.stats().users).toBe(100);
    expect(() => limiter.begin({ ip: "192.0.2.1", user: "brand-new" })).toThrow(/too many clients/);
    expect(() => limiter.begin({ ip: "192.0.2.1", user: "admin" })).toThrow(/too many failed logins/);
    expect(limiter.stats().users).toBe(100);
  });

  it("runs at most 2 password checks at once, queues 16, and refuses the rest at once", async () => {
    const { limiter } = clocked();
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    const check = () =>
      new Promise<boolean>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        releases.push(() => {
          running--;
          resolve(false);
        });
      });
    const outcomes = Array.from({ length: 100 }, () => limiter.gate(check).then(() => "done", (e: unknown) => (e instanceof LoginRefused ? "refused" : "other")));
    await Promise.resolve();
    expect(limiter.stats()).toMatchObject({ running: 2, queued: 16 });
    // Let every check finish, one at a time.
    while (releases.length) {
      releases.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r === "done")).toHaveLength(18);
    expect(results.filter((r) => r === "refused")).toHaveLength(82);
    expect(peak).toBe(2);
    expect(limiter.stats()).toMatchObject({ running: 0, queued: 0 });
  });
});
