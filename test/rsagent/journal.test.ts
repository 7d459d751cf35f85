// The real-server transaction: apply with an undo journal, "already so" as success, rollback on failure,
// commit-confirmed with the rs-agent's own timer. On an in-memory host (fake-host.ts); the real kernel is in
// test/kernel/rsagent.test.ts.
import { describe, expect, it } from "vitest";

import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createTransactionManager, TransactionNotPending, type PersistedTransaction } from "@/server/rsagent/journal";
import { fileJournalStore } from "@/server/rsagent/main";
import type { RealServerStep } from "@/server/wizards/plan";

import { drRealServer, FakeHost } from "./fake-host";

/** The wizard's DR real-server steps (server/wizards/plan.ts realServerPlan, mode dr). */
const DR_STEPS: RealServerStep[] = [
  { kind: "sysctl", key: "net.ipv4.conf.all.arp_ignore", value: "1" },
  { kind: "sysctl", key: "net.ipv4.conf.all.arp_announce", value: "2" },
  { kind: "sysctl", key: "net.ipv4.conf.eth0.arp_ignore", value: "1" },
  { kind: "sysctl", key: "net.ipv4.conf.eth0.arp_announce", value: "2" },
  { kind: "address", ifname: "lo", address: "192.0.2.100", prefixLen: 32 },
];

function setup() {
  const host = new FakeHost(drRealServer());
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  let clock = 1_000_000;
  let ids = 0;
  const tx = createTransactionManager({
    kernel: host,
    now: () => clock,
    newId: () => (++ids).toString(16).padStart(16, "0"),
    setTimer: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
  });
  /** Fires the live timers, as the clock passing their deadline would. */
  const fire = async () => {
    clock += 3_600_000;
    for (const t of timers.filter((x) => !x.cancelled)) t.fn();
    await tx.status(); // the timer's rollback is queued: wait for it
  };
  return { host, tx, timers, fire };
}

describe("rs.apply", () => {
  it("applies the DR steps and waits for a confirmation with a timer of confirmTimeoutSeconds", async () => {
    const { host, tx, timers } = setup();
    const r = await tx.apply(DR_STEPS, 30);
    expect(r).toMatchObject({ status: "pending", id: "0000000000000001", deadline: 1_000_000 + 30_000 });
    if (r.status !== "pending") throw new Error("not pending");
    expect(r.steps.map((s) => s.outcome)).toEqual(["changed", "changed", "changed", "changed", "changed"]);
    expect(host.state.links.lo!.addresses).toContain("192.0.2.100/32");
    expect(host.state.sysctls).toMatchObject({ "all.arp_ignore": 1, "all.arp_announce": 2, "eth0.arp_ignore": 1, "eth0.arp_announce": 2 });
    expect(timers).toHaveLength(1);
    expect(timers[0]!.ms).toBe(30_000);
    expect((await tx.status()).pending).toMatchObject({ id: r.id, state: "pending" });
  });

  it("keeps the change on rs.confirm: the timer is cancelled and firing it changes nothing", async () => {
    const { host, tx, timers, fire } = setup();
    const r = await tx.apply(DR_STEPS, 60);
    if (r.status !== "pending") throw new Error("not pending");
    const applied = host.snapshot();
    await expect(tx.confirm(r.id)).resolves.toMatchObject({ id: r.id, state: "confirmed" });
    expect(timers[0]!.cancelled).toBe(true);
    await fire();
    expect(host.state).toEqual(applied);
    const status = await tx.status();
    expect(status.pending).toBeNull();
    expect(status.recent[0]).toMatchObject({ id: r.id, state: "confirmed" });
  });

  it("rolls back by its own timer when no confirmation comes: the host is exactly as before", async () => {
    const { host, tx, fire } = setup();
    const before = host.snapshot();
    const r = await tx.apply(DR_STEPS, 5);
    expect(r.status).toBe("pending");
    expect(host.state).not.toEqual(before);
    await fire();
    expect(host.state).toEqual(before);
    const status = await tx.status();
    expect(status.pending).toBeNull();
    expect(status.recent[0]).toMatchObject({ state: "rolled-back", reason: "confirm-timeout", rollback: { errors: [] } });
    expect(status.recent[0]!.rollback!.undone).toHaveLength(5);
  });

  it("treats what is already so as success and never undoes it (EEXIST address, equal sysctl)", async () => {
    const { host, tx } = setup();
    host.state.links.lo!.addresses.push("192.0.2.100/32");
    host.state.sysctls["all.arp_ignore"] = 1;
    const before = host.snapshot();
    const r = await tx.apply(DR_STEPS, 60);
    if (r.status !== "pending") throw new Error("not pending");
    expect(r.steps.map((s) => s.outcome)).toEqual(["unchanged", "changed", "changed", "changed", "unchanged"]);
    expect(r.steps[4]!.detail).toBe("already there");
    const rolled = await tx.rollback(r.id);
    expect(rolled).toMatchObject({ state: "rolled-back", reason: "rollback-requested" });
    expect(rolled.rollback!.undone).toHaveLength(3);
    expect(host.state).toEqual(before);
    expect(host.state.links.lo!.addresses).toContain("192.0.2.100/32");
  });

  it("rolls back what was done when a step fails mid-apply, and reports the step", async () => {
    const { host, tx, timers } = setup();
    const before = host.snapshot();
    const steps: RealServerStep[] = [...DR_STEPS, { kind: "sysctl", key: "net.ipv4.conf.eth9.arp_ignore", value: "1" }];
    const r = await tx.apply(steps, 60);
    expect(r).toMatchObject({ status: "rolled-back", failedStep: 5 });
    if (r.status !== "rolled-back") throw new Error("not rolled back");
    expect(r.error).toMatch(/step 6 \(sysctl\).*does not exist/);
    expect(r.rollback).toEqual({ undone: expect.any(Array), errors: [] });
    expect(r.rollback.undone).toHaveLength(5);
    expect(host.state).toEqual(before);
    expect(timers).toHaveLength(0);
    expect((await tx.status()).pending).toBeNull();
  });

  it("rolls back on any other errno from the kernel (EPERM on an address)", async () => {
    const { host, tx } = setup();
    const before = host.snapshot();
    host.failures.set("addAddress", "EPERM");
    const r = await tx.apply(DR_STEPS, 60);
    expect(r).toMatchObject({ status: "rolled-back", failedStep: 4 });
    expect(host.state).toEqual(before);
  });

  it("refuses a sysctl that is not allow-listed before touching anything else after it", async () => {
    const { host, tx } = setup();
    const before = host.snapshot();
    const r = await tx.apply([DR_STEPS[0]!, { kind: "sysctl", key: "net.ipv4.tcp_syncookies", value: "0" }], 60);
    expect(r).toMatchObject({ status: "rolled-back", failedStep: 1 });
    if (r.status === "rolled-back") expect(r.error).toMatch(/not one the real-server agent may change/);
    expect(host.state).toEqual(before);
  });

  it("stops and rolls back when the request goes away mid-apply", async () => {
    const { host, tx } = setup();
    const before = host.snapshot();
    const gone = new AbortController();
    // The dashboard disconnects after the second write.
    const write = host.writeSysctl.bind(host);
    let writes = 0;
    host.writeSysctl = async (ref, value) => {
      await write(ref, value);
      if (++writes === 2) gone.abort();
    };
    const r = await tx.apply(DR_STEPS, 60, gone.signal);
    expect(r).toMatchObject({ status: "rolled-back", failedStep: 2 });
    expect(host.state).toEqual(before);
    expect((await tx.status()).recent[0]).toMatchObject({ reason: "aborted" });
  });

  it("reports an undo that fails and still undoes the rest", async () => {
    const { host, tx } = setup();
    const r = await tx.apply(DR_STEPS, 60);
    if (r.status !== "pending") throw new Error("not pending");
    host.failures.set("delAddress", "EPERM");
    const rolled = await tx.rollback(r.id);
    expect(rolled.rollback!.errors).toEqual([expect.stringMatching(/^delete 192\.0\.2\.100\/32 from lo: .*EPERM/)]);
    expect(rolled.rollback!.undone).toHaveLength(4);
    expect(host.state.sysctls["all.arp_ignore"]).toBe(0);
  });

  it("undoes TUN and NAT steps: module, link, rp_filter, default route", async () => {
    const { host, tx } = setup();
    const before = host.snapshot();
    const r = await tx.apply(
      [
        { kind: "module", name: "ipip" },
        { kind: "sysctl", key: "net.ipv4.conf.all.rp_filter", value: "0" },
        { kind: "link-up", ifname: "tunl0" },
        { kind: "address", ifname: "tunl0", address: "192.0.2.100", prefixLen: 32 },
        { kind: "default-route", via: "192.0.2.1" },
      ],
      60,
    );
    if (r.status !== "pending") throw new Error(`not pending: ${JSON.stringify(r)}`);
    expect(host.state.links.tunl0).toEqual({ up: true, addresses: ["192.0.2.100/32"] });
    expect(host.state.defaultRoute).toEqual({ gateway: "192.0.2.1" });
    await tx.rollback(r.id);
    expect(host.state).toEqual(before);
    // Undo order is the reverse of the apply.
    expect(host.calls.slice(-5)).toEqual([
      'replaceDefaultRoute {"gateway":"192.0.2.254","dev":"eth0"}',
      "delAddress 192.0.2.100/32 tunl0",
      "setLinkUp tunl0 false",
      "writeSysctl all.rp_filter=2",
      "unloadModule ipip",
    ]);
  });

  it("deletes a default route it added where there was none", async () => {
    const { host, tx } = setup();
    host.state.defaultRoute = null;
    const r = await tx.apply([{ kind: "default-route", via: "198.51.100.1" }], 60);
    if (r.status !== "pending") throw new Error("not pending");
    await tx.rollback(r.id);
    expect(host.state.defaultRoute).toBeNull();
  });

  it("answers busy while a transaction waits for its confirmation, and changes nothing", async () => {
    const { host, tx } = setup();
    const first = await tx.apply(DR_STEPS.slice(0, 1), 60);
    if (first.status !== "pending") throw new Error("not pending");
    const during = host.snapshot();
    await expect(tx.apply(DR_STEPS, 60)).resolves.toEqual({ status: "busy", pending: first.id });
    expect(host.state).toEqual(during);
  });

  it("refuses confirm and rollback of an id that is not pending", async () => {
    const { tx } = setup();
    await expect(tx.confirm("00000000000000ff")).rejects.toBeInstanceOf(TransactionNotPending);
    const r = await tx.apply(DR_STEPS, 60);
    if (r.status !== "pending") throw new Error("not pending");
    await expect(tx.rollback("00000000000000ff")).rejects.toThrow(/not the pending one/);
    await tx.confirm(r.id);
    await expect(tx.confirm(r.id)).rejects.toThrow(/no transaction is pending/);
  });

  it("close() rolls back a pending transaction (the agent stops: nobody can confirm it)", async () => {
    const { host, tx } = setup();
    const before = host.snapshot();
    await tx.apply(DR_STEPS, 60);
    await expect(tx.close()).resolves.toMatchObject({ state: "rolled-back", reason: "aborted" });
    expect(host.state).toEqual(before);
    await expect(tx.close()).resolves.toBeNull();
  });

  it("keeps the journal in a 0600 file while a change is in progress or pending, and removes it after", async () => {
    const host = new FakeHost(drRealServer());
    const dir = join(mkdtempSync(join(tmpdir(), "rs-state-")), "state");
    const store = fileJournalStore(dir);
    const tx = createTransactionManager({ kernel: host, store });
    const r = await tx.apply(DR_STEPS, 60);
    if (r.status !== "pending") throw new Error("not pending");
    const saved = (await store.load()) as PersistedTransaction;
    expect(saved).toMatchObject({ id: r.id, journal: expect.any(Array) });
    expect(saved.journal).toHaveLength(5);
    expect(statSync(join(dir, "pending.json")).mode & 0o777).toBe(0o600);
    await tx.confirm(r.id);
    expect(await store.load()).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("an agent that died with a change unconfirmed rolls it back when it starts again", async () => {
    const host = new FakeHost(drRealServer());
    const before = host.snapshot();
    const dir = mkdtempSync(join(tmpdir(), "rs-state-"));
    const first = createTransactionManager({ kernel: host, store: fileJournalStore(dir), setTimer: () => ({ cancel() {} }) });
    const r = await first.apply(DR_STEPS, 60);
    expect(r.status).toBe("pending");
    // kill -9: nothing runs; the next process starts from the file.
    const second = createTransactionManager({ kernel: host, store: fileJournalStore(dir) });
    const recovered = await second.recover();
    expect(recovered).toMatchObject({ state: "rolled-back", reason: "restart", rollback: { errors: [] } });
    expect(recovered!.rollback!.undone).toHaveLength(5);
    expect(host.state).toEqual(before);
    await expect(second.recover()).resolves.toBeNull();
    expect((await second.status()).recent[0]).toMatchObject({ reason: "restart" });
  });

  it("a crash in the middle of an apply is covered too: the journal holds each change as it is made", async () => {
    const host = new FakeHost(drRealServer());
    const before = host.snapshot();
    const dir = mkdtempSync(join(tmpdir(), "rs-state-"));
    const saves: number[] = [];
    const file = fileJournalStore(dir);
    const store = { save: async (t: PersistedTransaction | null) => (saves.push(t?.journal.length ?? 0), file.save(t)), load: file.load };
    // The third write never returns (the process "dies" there).
    const write = host.writeSysctl.bind(host);
    let writes = 0;
    host.writeSysctl = (ref, value) => (++writes === 3 ? new Promise<void>(() => undefined) : write(ref, value));
    void createTransactionManager({ kernel: host, store }).apply(DR_STEPS, 60);
    await new Promise((r) => setTimeout(r, 20));
    expect(saves).toEqual([1, 2]);
    host.writeSysctl = write;
    await createTransactionManager({ kernel: host, store: fileJournalStore(dir) }).recover();
    expect(host.state).toEqual(before);
  });
});
