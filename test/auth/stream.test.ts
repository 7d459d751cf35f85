// A live stream (tRPC subscription) ends when its session ends: logout, expiry, the user removed or demoted.
import { afterEach, describe, expect, it, vi } from "vitest";

import { adminProcedure, createCallerFactory, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";

import { signedIn } from "./context";

async function* ticks() {
  for (let i = 0; ; i++) {
    yield i;
    await new Promise((r) => setTimeout(r, 0));
  }
}

const router = createTRPCRouter({
  live: viewerProcedure.subscription(ticks),
  adminLive: adminProcedure.subscription(ticks),
});
const createCaller = createCallerFactory(router);

afterEach(() => vi.restoreAllMocks());

/** Reads `n` values, then moves the clock past the re-check interval. */
async function take(it: AsyncIterator<number>, n: number, clock: { t: number }) {
  const got: number[] = [];
  for (let i = 0; i < n; i++) got.push((await it.next()).value as number);
  clock.t += 6_000;
  return got;
}

describe("subscriptions", () => {
  it("stop sending once the session is ended", async () => {
    const clock = { t: Date.now() };
    vi.spyOn(Date, "now").mockImplementation(() => clock.t);
    const ctx = signedIn({ role: "viewer" });
    const it = (await createCaller(ctx).live())[Symbol.asyncIterator]();
    expect(await take(it, 3, clock)).toEqual([0, 1, 2]);
    expect((await it.next()).done).toBe(false); // still valid after the re-check
    ctx.env.store.endSession(ctx.session!.id);
    clock.t += 6_000;
    expect((await it.next()).done).toBe(true);
  });

  it("of an admin stop when the admin is demoted to viewer", async () => {
    const clock = { t: Date.now() };
    vi.spyOn(Date, "now").mockImplementation(() => clock.t);
    const ctx = signedIn({ role: "admin", user: "alice" });
    ctx.env.store.addUser("bob", "admin", "$scrypt$x");
    const it = (await createCaller(ctx).adminLive())[Symbol.asyncIterator]();
    expect(await take(it, 2, clock)).toEqual([0, 1]);
    ctx.env.store.setRole("alice", "viewer");
    expect((await it.next()).done).toBe(true);
  });

  it("do not keep the session alive by themselves (the re-check is not activity)", async () => {
    const clock = { t: Date.now() };
    vi.spyOn(Date, "now").mockImplementation(() => clock.t);
    const ctx = signedIn({ role: "viewer" });
    const before = ctx.env.store.resolveSession(ctx.request.token!, { touch: false })!.lastSeen;
    const it = (await createCaller(ctx).live())[Symbol.asyncIterator]();
    await take(it, 2, clock);
    await it.next();
    expect(ctx.env.store.resolveSession(ctx.request.token!, { touch: false })!.lastSeen).toBe(before);
  });
});
