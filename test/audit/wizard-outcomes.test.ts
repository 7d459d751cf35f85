// server/audit/wizard-outcomes.ts: how each wizard change ended, in the audit log, once per change. The statuses
// come from the real WizardManager over the in-memory director of test/wizards (the lab runs the same manager
// against the real kernel: test/kernel/wizard.test.ts).
import { afterEach, describe, expect, it, vi } from "vitest";

import { AuditLog } from "@/server/audit/log";
import { OUTCOME_OP, outcomeEntry, recordOutcome } from "@/server/audit/wizard-outcomes";
import { WizardManager } from "@/server/wizards/apply";
import { wizardInput } from "@/server/wizards/input";

import { fakeDirector } from "../wizards/fake-kernel";
import { bareDirector, draft } from "../wizards/fixtures";

const fast = { counterWaitMs: 0, sleep: async () => undefined };
const outcomes = (audit: AuditLog) => audit.query({ op: OUTCOME_OP }).entries;

afterEach(() => {
  vi.useRealTimers();
});

describe("wizard outcomes in the audit log", () => {
  it("nothing while a change runs or waits for its confirmation; the commit once it is confirmed, once", async () => {
    const audit = AuditLog.open(":memory:");
    const m = new WizardManager(fakeDirector(bareDirector()).kernel, fast);
    expect(recordOutcome(audit, m.current())).toBe(false); // idle
    await m.start(wizardInput.parse(draft("dr"))).done;
    expect(m.current().phase).toBe("awaiting-confirm");
    expect(recordOutcome(audit, m.current())).toBe(false);
    const committed = await m.confirm(m.current().id!);
    expect(recordOutcome(audit, committed)).toBe(true);
    expect(recordOutcome(audit, m.current())).toBe(false); // the next poll: already there
    const [e] = outcomes(audit);
    expect(e).toMatchObject({ user: "agent", kind: "agent", result: "ok" });
    expect(JSON.parse(e!.input)).toEqual({ id: committed.id, summary: committed.summary });
    expect(e!.diff).toContain("done IPVS -A -t 192.0.2.100:80");
  });

  it("the agent's timer rolling back an unconfirmed change: why, and that the director is as it was", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const audit = AuditLog.open(":memory:");
    const m = new WizardManager(fakeDirector(bareDirector()).kernel, fast);
    await m.start(wizardInput.parse(draft("dr", { confirmTimeoutSeconds: 5 }))).done;
    await vi.advanceTimersByTimeAsync(5100);
    expect(recordOutcome(audit, await m.settled())).toBe(true);
    const [e] = outcomes(audit);
    expect(e).toMatchObject({ result: "error", error: "not confirmed within 5 s" });
    expect(e!.rollback).toBe("rolled back: the director is as it was (checked)");
    expect(e!.durationMs).toBeGreaterThanOrEqual(5000);
  });

  it("a step the kernel refuses: the error, each step's state, and an incomplete rollback said as such", async () => {
    const audit = AuditLog.open(":memory:");
    const d = fakeDirector(bareDirector());
    d.failAt(2);
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("dr"))).done;
    const s = m.current();
    expect(recordOutcome(audit, s)).toBe(true);
    const [e] = outcomes(audit);
    expect(e!.error).toMatch(/^step 3 failed/);
    expect(e!.diff).toMatch(/^undone address 192\.0\.2\.100\/32 on eth0/m);

    // The same change had it been left half undone (the agent reports what still differs).
    const half = outcomeEntry({ ...s, id: "other", rollback: { ...s.rollback!, ok: false, failures: ["ipvs: EBUSY"], remaining: ["address 192.0.2.100/32 on eth0"] } });
    expect(half?.rollback).toBe("rollback INCOMPLETE\nundo failed: ipvs: EBUSY\nstill differs: address 192.0.2.100/32 on eth0");
  });
});
