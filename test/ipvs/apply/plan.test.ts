// Apply planning and execution over a fake kernel (fakeGenlTransport: a function from request to replies,
// answering reads from a table and writes from a script): the steps and their order, the commands they print
// as, idempotent EEXIST/ENOENT, and the rollback after any other refusal.
import { describe, expect, it } from "vitest";
import { applyRuleTable, formatApplyResult } from "@/server/ipvs/apply/apply";
import { formatPlan, inverseSteps, planApply, stepRule, type ApplyStep } from "@/server/ipvs/apply/plan";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import type { TableState } from "@/server/ipvs/snapshot/model";
import { fakeKernel, state } from "../snapshot/helpers";

const BEFORE = `-A -t 192.0.2.1:80 -s wlc
-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1
-a -t 192.0.2.1:80 -r 192.0.2.12:80 -g -w 2
-A -t 192.0.2.2:80 -s rr
-a -t 192.0.2.2:80 -r 192.0.2.21:80 -g -w 1
-A -u 192.0.2.3:53 -s rr
`;
const AFTER = `-A -t 192.0.2.1:80 -s rr
-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 5 -x 100 -y 10
-a -t 192.0.2.1:80 -r 192.0.2.13:80 -g -w 1
-A -u 192.0.2.3:53 -s rr
-a -u 192.0.2.3:53 -r 198.51.100.3:5353 -m -w 1
-A -f 9 -s sh -b sh-port
-a -f 9 -r 192.0.2.91:0 -g -w 1
--set 0 0 60
--start-daemon master --mcast-interface eth0 --syncid 7
`;
const withTimeouts = (t: TableState): TableState => ({ ...t, timeouts: { tcp: 900, tcpFin: 120, udp: 300 } });
const ops = (steps: ApplyStep[]) => steps.map(stepRule);

describe("planApply", () => {
  it("plans the smallest set of commands, removals first, as ipvsadm commands", () => {
    const plan = planApply(withTimeouts(state(BEFORE)), state(AFTER));
    expect(ops(plan.steps)).toEqual([
      "-d -t 192.0.2.1:80 -r 192.0.2.12:80",
      "-D -t 192.0.2.2:80",
      "-E -t 192.0.2.1:80 -s rr",
      "-A -f 9 -s sh -b sh-port",
      "-a -f 9 -r 192.0.2.91:0 -g -w 1",
      "-e -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 5 -x 100 -y 10",
      "-a -t 192.0.2.1:80 -r 192.0.2.13:80 -g -w 1",
      "-a -u 192.0.2.3:53 -r 198.51.100.3:5353 -m -w 1",
      "--set 0 0 60",
      "--start-daemon master --mcast-interface eth0 --syncid 7",
    ]);
    expect(formatPlan(plan)).toMatch(/^9 changes:\n  ~ service TCP 192\.0\.2\.1:80: scheduler wlc -> rr\n/);
    expect(formatPlan(plan)).toContain("10 commands:\n  -d -t 192.0.2.1:80 -r 192.0.2.12:80\n");
  });

  it("keeps unlisted services with keepUnlisted, and stops unlisted daemons only when asked", () => {
    const before: TableState = { ...state(BEFORE), daemons: [{ state: "backup", mcastInterface: "eth1", syncId: 2, unknown: [] }] };
    expect(ops(planApply(before, state("-A -u 192.0.2.3:53 -s rr\n"), { keepUnlisted: true }).steps)).toEqual([]);
    expect(ops(planApply(before, state("-A -u 192.0.2.3:53 -s rr\n"), { stopUnlistedDaemons: true }).steps)).toEqual(["-D -t 192.0.2.1:80", "-D -t 192.0.2.2:80", "--stop-daemon backup"]);
  });

  it("restarts a daemon whose settings change (the kernel cannot edit one)", () => {
    const before: TableState = { ...state(""), daemons: [{ state: "master", mcastInterface: "eth0", syncId: 1, unknown: [] }] };
    expect(ops(planApply(before, state("--start-daemon master --mcast-interface eth0 --syncid 2\n")).steps)).toEqual([
      "--stop-daemon master",
      "--start-daemon master --mcast-interface eth0 --syncid 2",
    ]);
  });

  it("has nothing to do when the kernel already has the table", () => {
    const plan = planApply(state(AFTER), state(AFTER));
    expect(plan.steps).toEqual([]);
    expect(formatPlan(plan)).toBe("no changes: the kernel already has this table\n");
  });

  it("undoes each step with its inverse (a deleted service comes back with its real servers)", () => {
    const plan = planApply(withTimeouts(state(BEFORE)), state(AFTER));
    expect(plan.steps.flatMap(inverseSteps).map(stepRule)).toEqual([
      "-a -t 192.0.2.1:80 -r 192.0.2.12:80 -g -w 2",
      "-A -t 192.0.2.2:80 -s rr",
      "-a -t 192.0.2.2:80 -r 192.0.2.21:80 -g -w 1",
      "-E -t 192.0.2.1:80 -s wlc",
      "-D -f 9",
      "-d -f 9 -r 192.0.2.91:0",
      "-e -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1",
      "-d -t 192.0.2.1:80 -r 192.0.2.13:80",
      "-d -u 192.0.2.3:53 -r 198.51.100.3:5353",
      "--set 0 0 300",
      "--stop-daemon master",
    ]);
  });
});

describe("executePlan / applyRuleTable over a fake kernel", () => {
  const rules = (text: string) => loadIpvsadmRules(text).table;
  const probe = async () => "loadable" as const;

  it("sends one command per step, in order", async () => {
    const k = fakeKernel(() => withTimeouts(state(BEFORE)));
    const r = await applyRuleTable(new IpvsClient(k.transport), rules(AFTER), { probe });
    expect(r.ok).toBe(true);
    expect(k.writes()).toEqual(["DEL_DEST", "DEL_SERVICE", "SET_SERVICE", "NEW_SERVICE", "NEW_DEST", "SET_DEST", "NEW_DEST", "NEW_DEST", "SET_CONFIG", "NEW_DAEMON"]);
    expect(formatApplyResult(r)).toBe("applied: 10 commands done\n");
  });

  it("takes EEXIST on an add and ENOENT/ESRCH on a delete as already done", async () => {
    const errno: Record<number, number> = { 1: 2 /* ENOENT: dest gone */, 2: 3 /* ESRCH: service gone */, 4: 17 /* EEXIST */ };
    const k = fakeKernel(() => withTimeouts(state(BEFORE)), (_name, n) => errno[n]);
    const r = await applyRuleTable(new IpvsClient(k.transport), rules(AFTER), { probe });
    if (r.stage !== "apply") throw new Error(r.stage);
    expect(r.ok).toBe(true);
    expect([r.done.length, r.already.map(stepRule)]).toEqual([7, ["-d -t 192.0.2.1:80 -r 192.0.2.12:80", "-D -t 192.0.2.2:80", "-A -f 9 -s sh -b sh-port"]]);
    expect(formatApplyResult(r)).toContain("applied: 7 commands done, 3 already in place\n  already in place: -d -t");
  });

  it("stops at any other refusal and undoes what it did, in reverse, then checks the table", async () => {
    const k = fakeKernel(() => withTimeouts(state(BEFORE)), (_name, n) => (n === 5 ? 22 /* EINVAL */ : undefined));
    const r = await applyRuleTable(new IpvsClient(k.transport), rules(AFTER), { probe });
    if (r.stage !== "apply") throw new Error(r.stage);
    expect(r.ok).toBe(false);
    expect(stepRule(r.failed!.step)).toBe("-a -f 9 -r 192.0.2.91:0 -g -w 1");
    expect(r.failed!.error.message).toMatch(/^the kernel rejected IPVS_CMD_NEW_DEST as invalid \(FWM 9, destination 192\.0\.2\.91:0\)/);
    expect(r.rollback!.undone.map(stepRule)).toEqual(["-D -f 9", "-E -t 192.0.2.1:80 -s wlc", "-A -t 192.0.2.2:80 -s rr", "-a -t 192.0.2.2:80 -r 192.0.2.21:80 -g -w 1", "-a -t 192.0.2.1:80 -r 192.0.2.12:80 -g -w 2"]);
    expect(k.writes().slice(5)).toEqual(["DEL_SERVICE", "SET_SERVICE", "NEW_SERVICE", "NEW_DEST", "NEW_DEST"]);
    // the fake kernel still reports the before-table: the check finds nothing left over
    expect(r.rollback).toMatchObject({ ok: true, failures: [], remaining: [] });
    expect(formatApplyResult(r)).toBe(
      "failed at: -a -f 9 -r 192.0.2.91:0 -g -w 1\n" +
        `  ${r.failed!.error.message}\n` +
        "rolled back 5 commands of 4 done\n" +
        "the table is as it was before (checked)\n",
    );
  });

  it("says so, loudly, when the rollback is refused too or the table differs afterwards", async () => {
    let now = withTimeouts(state(BEFORE));
    const k = fakeKernel(() => now, (_name, n) => (n === 3 || n === 4 ? 12 /* ENOMEM */ : undefined));
    const client = new IpvsClient(k.transport);
    const r = await applyRuleTable(client, rules(AFTER), { probe, onPlan: () => void (now = withTimeouts(state(BEFORE.replace("-s rr\n-a -t 192.0.2.2:80", "-s lc\n-a -t 192.0.2.2:80")))) });
    if (r.stage !== "apply") throw new Error(r.stage);
    expect(r.rollback!.ok).toBe(false);
    expect(r.rollback!.failures.map((f) => stepRule(f.step))).toEqual(["-A -t 192.0.2.2:80 -s rr"]);
    expect(formatApplyResult(r)).toMatch(/rollback could not: -A -t 192\.0\.2\.2:80 -s rr: the kernel refused IPVS_CMD_NEW_SERVICE for TCP 192\.0\.2\.2:80\n/);
    expect(formatApplyResult(r)).toContain("THE TABLE IS NOT AS IT WAS: still different:\n  ~ service TCP 192.0.2.2:80: scheduler lc -> rr\n");
  });

  it("validates before reading or writing anything", async () => {
    const k = fakeKernel(() => state(BEFORE));
    const r = await applyRuleTable(new IpvsClient(k.transport), rules("-A -t 192.0.2.9:80 -s twos\n"), { probe: async () => "missing" });
    expect(r).toMatchObject({ ok: false, stage: "validate" });
    expect(k.transport.requests).toEqual([]);
    expect(formatApplyResult(r)).toBe('nothing changed: the rules have 1 problem:\n  -t 192.0.2.9:80 (-s): scheduler "twos": this kernel has no module ip_vs_twos (not loaded, not built in, not in /lib/modules)\n');
  });

  it("dry run: plans, sends nothing", async () => {
    const k = fakeKernel(() => withTimeouts(state(BEFORE)));
    const r = await applyRuleTable(new IpvsClient(k.transport), rules(AFTER), { probe, dryRun: true });
    expect(r).toMatchObject({ ok: true, stage: "plan" });
    expect(k.writes()).toEqual([]);
  });
});
