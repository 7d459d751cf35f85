// The audit log: what adminProcedure records for every mutation (who, path, redacted input, result, the
// mutation's own diff and rollback notes), the queries the /audit page makes, and the size bound.
import { describe, expect, it } from "vitest";
import { z } from "zod";

import { AuditLog } from "@/server/audit/log";
import { REDACTED, redact, summarizeInput } from "@/server/audit/redact";
import { adminProcedure, createCallerFactory, createTRPCRouter, viewerProcedure } from "@/server/api/trpc";

import { signedIn } from "./context";

const router = createTRPCRouter({
  change: adminProcedure
    .input(z.object({ vip: z.string(), agentToken: z.string(), nested: z.object({ password: z.string() }).optional() }))
    .mutation(({ ctx, input }) => {
      ctx.auditNotes.diff = `+ -A -t ${input.vip}:80 -s wrr`;
      return { applied: true };
    }),
  failing: adminProcedure.input(z.object({ vip: z.string() })).mutation(({ ctx }) => {
    ctx.auditNotes.diff = "+ -A -t 192.0.2.100:80";
    ctx.auditNotes.rollback = "- -D -t 192.0.2.100:80";
    throw new Error("EEXIST? no: ENOMEM from the kernel");
  }),
  read: viewerProcedure.query(() => "ok"),
});
const createCaller = createCallerFactory(router);

describe("adminProcedure's audit record", () => {
  it("records who, the path, the input with secrets redacted, the result and the diff", async () => {
    const ctx = signedIn({ role: "admin", user: "alice" });
    await createCaller(ctx).change({ vip: "192.0.2.100", agentToken: "tok-123456", nested: { password: "pw-98765" } });
    const [e] = ctx.audit.query().entries;
    expect(e).toMatchObject({ user: "alice", role: "admin", ip: "192.0.2.50", op: "change", kind: "mutation", result: "ok", error: null, diff: "+ -A -t 192.0.2.100:80 -s wrr" });
    expect(JSON.parse(e!.input)).toEqual({ vip: "192.0.2.100", agentToken: REDACTED, nested: { password: REDACTED } });
    expect(JSON.stringify(e)).not.toMatch(/tok-123456|pw-98765/);
  });

  it("records a failure with its message and the rollback the mutation noted", async () => {
    const ctx = signedIn({ role: "admin", user: "alice" });
    await expect(createCaller(ctx).failing({ vip: "192.0.2.100" })).rejects.toThrow();
    const [e] = ctx.audit.query().entries;
    expect(e).toMatchObject({ result: "error", rollback: "- -D -t 192.0.2.100:80", diff: "+ -A -t 192.0.2.100:80" });
    expect(e!.error).toContain("ENOMEM from the kernel");
  });

  it("records a viewer's attempt as refused, and records no query", async () => {
    const ctx = signedIn({ role: "viewer", user: "victor" });
    await expect(createCaller(ctx).change({ vip: "x", agentToken: "secret-x" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await createCaller(ctx).read();
    const { entries, total } = ctx.audit.query();
    expect(total).toBe(1);
    expect(entries[0]).toMatchObject({ user: "victor", result: "refused", op: "change" });
    expect(entries[0]!.input).not.toContain("secret-x");
  });

  it("does not record refusals of requests without a session (anyone could fill the log)", async () => {
    const ctx = signedIn({ role: null });
    await expect(createCaller(ctx).change({ vip: "x", agentToken: "y" })).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(ctx.audit.query().total).toBe(0);
  });
});

describe("redact", () => {
  it("redacts secret-named keys at any depth and shortens long values", () => {
    const out = redact({ password: "a", newPassword: "b", currentPassword: "c", token: "d", setupToken: "e", apiKey: "f", key: "tcp/192.0.2.1:80", list: Array.from({ length: 60 }, (_, i) => i), text: "x".repeat(500) }) as Record<string, unknown>;
    expect(out).toMatchObject({ password: REDACTED, newPassword: REDACTED, currentPassword: REDACTED, token: REDACTED, setupToken: REDACTED, apiKey: REDACTED, key: "tcp/192.0.2.1:80" });
    expect((out.list as unknown[]).length).toBe(51);
    expect(String(out.text)).toMatch(/… \(500 chars\)$/);
    expect(summarizeInput({ rules: "y".repeat(100_000) }).length).toBeLessThanOrEqual(4000);
    expect(summarizeInput(undefined)).toBe("");
  });
});

describe("AuditLog.query", () => {
  const log = () => {
    let t = 0;
    const audit = AuditLog.open(":memory:", { now: () => ++t });
    for (let i = 0; i < 120; i++) {
      audit.record({ user: i % 3 ? "alice" : "bob", role: "admin", ip: "192.0.2.1", op: i % 2 ? "wizards.apply" : "capture.start", kind: "mutation", input: "{}", result: i % 5 ? "ok" : "error" });
    }
    return audit;
  };

  it("filters by user, operation (or a domain prefix) and result, newest first, in pages", () => {
    const audit = log();
    const bob = audit.query({ user: "bob", limit: 10 });
    expect(bob.total).toBe(40);
    expect(bob.entries).toHaveLength(10);
    expect(bob.entries.every((e) => e.user === "bob")).toBe(true);
    expect(bob.entries[0]!.id).toBeGreaterThan(bob.entries[9]!.id);
    expect(audit.query({ op: "wizards." }).total).toBe(60);
    expect(audit.query({ op: "wizards" }).total).toBe(0);
    expect(audit.query({ result: "error", user: "alice" }).total).toBe(16);
    const page2 = audit.query({ offset: 50, limit: 50 });
    expect(page2.entries[0]!.id).toBe(70);
    expect(audit.query({ limit: 10_000 }).limit).toBe(200);
    expect(audit.facets()).toEqual({ users: ["alice", "bob"], ops: ["capture.start", "wizards.apply"] });
  });

  it("keeps at most maxRows entries (the oldest go)", () => {
    const audit = AuditLog.open(":memory:", { maxRows: 100 });
    for (let i = 0; i < 1_000; i++) audit.record({ user: "-", role: null, ip: "x", op: "auth.login", kind: "mutation", input: "{}", result: "error" });
    expect(audit.query().total).toBeLessThanOrEqual(600);
    expect(audit.query().entries[0]!.id).toBe(1000);
  });

  it("takes filter values as data, never as SQL", () => {
    const audit = log();
    expect(audit.query({ user: "alice' OR '1'='1" }).total).toBe(0);
    expect(audit.query({ op: "x'); DROP TABLE audit; --." }).total).toBe(0);
    expect(audit.query().total).toBe(120);
  });
});
