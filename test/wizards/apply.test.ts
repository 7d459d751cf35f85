// The wizard's apply in the agent, over an in-memory director (fake-kernel.ts): the order of the steps, the
// undo journal, idempotent EEXIST, rollback on any other error and on failed verification, refusal before any
// change, and commit-confirmed with the agent's timer. The real kernel: test/kernel/wizard.test.ts (lab).
import { afterEach, describe, expect, it, vi } from "vitest";

import { WizardBusyError, WizardManager, compareStates, type JournalStore, type PendingChange } from "@/server/wizards/apply";
import { wizardInput } from "@/server/wizards/input";

import { fakeDirector } from "./fake-kernel";
import { bareDirector, draft } from "./fixtures";

const fast = { counterWaitMs: 0, sleep: async () => undefined };

afterEach(() => {
  vi.useRealTimers();
});

describe("wizard apply", () => {
  it("applies DR in order, verifies, and keeps the change once confirmed", async () => {
    const d = fakeDirector(bareDirector());
    const m = new WizardManager(d.kernel, fast);
    const { status, done } = m.start(wizardInput.parse(draft("dr")));
    expect(status.phase).toBe("applying");
    await done;
    const s = m.current();
    expect(s.phase).toBe("awaiting-confirm");
    expect(d.calls).toEqual(["add 192.0.2.100/32 eth0", expect.stringMatching(/^newService/), "newDest 192.0.2.11:80", "newDest 192.0.2.12:80"]);
    expect(s.verification).toMatchObject({ stateOk: true, traffic: { ok: true, probes: 6, answered: 6 } });
    expect(s.deadline).toBeGreaterThan(Date.now());
    // What is left, by the agent's clock (the page counts down from it, not from its own clock).
    expect(s.leftMs).toBeGreaterThan(0);
    expect(s.leftMs).toBeLessThanOrEqual(s.deadline! - Date.now() + 5);
    const committed = await m.confirm(s.id!);
    expect(committed.phase).toBe("committed");
    expect(committed.leftMs).toBeUndefined();
    await expect(m.confirm(s.id!)).rejects.toThrow(WizardBusyError);
    expect(d.state.addresses.some((a) => a.address === "192.0.2.100")).toBe(true);
  });

  for (let n = 0; n < 4; n++) {
    it(`a failure at director step ${n + 1} of 4 undoes the steps before it, backwards, and checks the state`, async () => {
      const before = bareDirector();
      const d = fakeDirector(before);
      d.failAt(n);
      const m = new WizardManager(d.kernel, fast);
      await m.start(wizardInput.parse(draft("dr"))).done;
      const s = m.current();
      expect(s.phase).toBe("rolled-back");
      expect(s.rollback).toMatchObject({ ok: true, remaining: [], failures: [] });
      expect(s.rollback!.reason).toMatch(new RegExp(`^step ${n + 1} failed`));
      expect(s.steps[n]!.state).toBe("failed");
      expect(s.steps.slice(0, n).map((x) => x.state)).toEqual(Array(n).fill("undone"));
      expect(compareStates(before, d.state)).toEqual([]);
      // Undo runs backwards: the VIP goes last.
      if (n > 0) expect(d.calls.at(-1)).toBe("del 192.0.2.100/32 eth0");
    });
  }

  it("FULLNAT: a failure at the IPVS step restores the sysctls and removes the nftables table", async () => {
    const before = bareDirector({ inner: true });
    const d = fakeDirector(before);
    d.failAt(4);
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("fullnat"))).done;
    expect(m.current().rollback?.ok).toBe(true);
    expect(d.calls.slice(-4)).toEqual(["nft delete lvsdash_fullnat_192_0_2_100", "del 192.0.2.100/32 eth0", "sysctl net.ipv4.vs.conntrack=0", "sysctl net.ipv4.ip_forward=0"]);
    expect(compareStates(before, d.state)).toEqual([]);
  });

  it("EEXIST on an add is success with nothing to undo (the VIP someone added meanwhile stays)", async () => {
    const d = fakeDirector(bareDirector());
    const m = new WizardManager(d.kernel, fast);
    // Planned without the VIP; someone adds it before the step runs.
    const input = wizardInput.parse(draft("dr"));
    const { done } = m.start(input);
    d.state.addresses.push({ ifname: "eth0", address: "192.0.2.100", prefixLen: 32 });
    await done;
    const s = m.current();
    expect(s.steps[0]!.state).toBe("already");
    await m.rollbackNow(s.id!);
    expect(m.current().phase).toBe("rolled-back");
    expect(d.state.addresses.some((a) => a.address === "192.0.2.100")).toBe(true);
  });

  it("rolls back when the traffic verification fails", async () => {
    const before = bareDirector();
    const d = fakeDirector(before);
    d.probesFail();
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("dr"))).done;
    expect(m.current().phase).toBe("rolled-back");
    expect(m.current().rollback!.reason).toMatch(/verification with traffic failed: 6 of 6 probes got no answer/);
    expect(compareStates(before, d.state)).toEqual([]);
  });

  it("rolls back when a real server with a weight gets no connection", async () => {
    const d = fakeDirector(bareDirector());
    const m = new WizardManager(d.kernel, fast);
    const input = wizardInput.parse(draft("dr", { verify: { probes: 1 } }));
    await m.start(input).done;
    expect(m.current().rollback?.reason).toMatch(/192\.0\.2\.12:80 got no connection/);
  });

  it("refuses before any change: preflight errors, or a plan that is not the one shown", async () => {
    const d = fakeDirector(bareDirector());
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("dr", { director: { interface: "eth7" } }))).done;
    expect(m.current()).toMatchObject({ phase: "refused", error: expect.stringMatching(/preflight/) });
    await m.start(wizardInput.parse(draft("dr")), "0123456789abcdef").done;
    expect(m.current()).toMatchObject({ phase: "refused", error: expect.stringMatching(/fingerprint differs/) });
    expect(d.calls).toEqual([]);
  });

  it("commit-confirmed: unconfirmed, the agent's timer rolls everything back", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const before = bareDirector();
    const d = fakeDirector(before);
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("dr", { confirmTimeoutSeconds: 5 }))).done;
    expect(m.current().phase).toBe("awaiting-confirm");
    expect(() => m.start(wizardInput.parse(draft("dr")))).toThrow(/awaiting-confirm/);
    await vi.advanceTimersByTimeAsync(4900);
    expect(m.current().phase).toBe("awaiting-confirm");
    await vi.advanceTimersByTimeAsync(200);
    const s = await m.settled();
    expect(s.phase).toBe("rolled-back");
    expect(s.rollback).toMatchObject({ ok: true, reason: "not confirmed within 5 s" });
    expect(compareStates(before, d.state)).toEqual([]);
  });

  it("a confirmed change is not touched by the timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const d = fakeDirector(bareDirector());
    const m = new WizardManager(d.kernel, fast);
    await m.start(wizardInput.parse(draft("dr", { confirmTimeoutSeconds: 5 }))).done;
    await m.confirm(m.current().id!);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(m.current().phase).toBe("committed");
    expect(d.calls.some((c) => c.startsWith("del"))).toBe(false);
  });

  it("an agent that stops before the confirmation: the next one rolls the change back from the journal", async () => {
    const before = bareDirector();
    const d = fakeDirector(before);
    let saved: PendingChange | null = null;
    const store: JournalStore = {
      save: async (c) => void (saved = c === null ? null : (JSON.parse(JSON.stringify(c)) as PendingChange)),
      load: async () => saved,
    };
    const first = new WizardManager(d.kernel, { ...fast, store });
    await first.start(wizardInput.parse(draft("dr"))).done;
    expect(first.current().phase).toBe("awaiting-confirm");
    expect(saved!.journal).toHaveLength(4);
    // The first agent is gone (its timer with it); a new one starts.
    const second = new WizardManager(d.kernel, { ...fast, store });
    const s = await second.recover();
    expect(s).toMatchObject({ phase: "rolled-back", rollback: { ok: true, reason: expect.stringMatching(/agent stopped before the change was confirmed/) } });
    expect(compareStates(before, d.state)).toEqual([]);
    expect(saved).toBeNull();
    expect(await second.recover()).toBeNull();
  });

  it("a confirmed change leaves no journal behind", async () => {
    let saved: PendingChange | null = null;
    const store: JournalStore = { save: async (c) => void (saved = c), load: async () => saved };
    const m = new WizardManager(fakeDirector(bareDirector()).kernel, { ...fast, store });
    await m.start(wizardInput.parse(draft("dr"))).done;
    expect(saved).not.toBeNull();
    await m.confirm(m.current().id!);
    expect(saved).toBeNull();
  });
});
