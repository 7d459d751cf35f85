// Applying rules through server/ipvs/apply on the real kernel (lab guest only:
// npx tsx lab/host/cli.ts test test/kernel/ipvs-apply.test.ts), with Debian's ipvsadm as the oracle:
//   (a) a rich rules file applied -> `ipvsadm-save -n` is the file's canonical emission; applying it again
//       does nothing; a changed file is reached by the smallest plan;
//   (b) bad input -> a clear error and `ipvsadm-save -n` (and --thresholds, timeouts) byte-identical;
//   (c) a failure forced at the Nth kernel command over the REAL transport -> rolled back, identical again;
//   (d) `lvsdash status/save` print what ipvsadm prints for the same table, header line included.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyRuleTable } from "@/server/ipvs/apply/apply";
import { loadRulesForApply } from "@/server/ipvs/apply/validate";
import { runCli, realKernel } from "@/server/cli/main";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import type { RuleTable } from "@/server/ipvs/rules/model";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import { moduleAvailability } from "@/server/kernel/modules";
import { captureIo } from "../cli/io";
import { failingAt } from "./failing-transport";

const sh = (script: string, input?: string): string => execFileSync("sh", ["-c", script], { encoding: "utf8", input });
const RICH = readFileSync("test/fixtures/cases/rules-rich/rules.txt", "utf8");
const THRESHOLDS_FIXTURE = readFileSync("test/fixtures/cases/rules-rich/ipvsadm-Ln-thresholds.txt", "utf8");

/** Everything ipvsadm shows of the configuration, in one sh. */
const state = () => sh("ipvsadm-save -n; echo @@; ipvsadm -Ln --thresholds; echo @@; ipvsadm -L --timeout; echo @@; ipvsadm -L --daemon");

async function load(text: string): Promise<RuleTable> {
  const r = await loadRulesForApply(text, moduleAvailability);
  if (!r.table) throw new Error(`rules did not load: ${JSON.stringify(r.issues)}`);
  return r.table;
}

// The rich file changed in every way apply knows: a service removed, one edited (scheduler, persistence),
// real servers removed, edited (weight, method, thresholds, tunnel) and added, a new service, new timeouts.
const CHANGED = RICH.replace("-A -t 192.0.2.103:80 -s lblc\n", "")
  .replace("-A -t 192.0.2.104:80 -s lblcr", "-A -t 192.0.2.104:80 -s rr -p 77")
  .replace("-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 3", "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 9 -x 50 -y 5")
  .replace("-a -t 192.0.2.101:80 -r 203.0.113.32 -i --tun-type gue --tun-port 6080 --tun-csum", "-a -t 192.0.2.101:80 -r 203.0.113.32 -i --tun-type gre --tun-csum")
  .replace("-a -t 192.0.2.109:80 -r 192.0.2.92 -w 5\n", "")
  .replace("-a -u 192.0.2.123:53 -r 192.0.2.25 -m -w 1", "-a -u 192.0.2.123:53 -r 192.0.2.25:5353 -m -w 4\n-a -u 192.0.2.123:53 -r 192.0.2.26 -m -w 2")
  .replace("--set 900 120 300", "--set 901 121 301\n-A -t 192.0.2.140:443 -s wrr\n-a -t 192.0.2.140:443 -r 198.51.100.40:8443 -m -w 3");

let ipvs: IpvsClient;

beforeAll(() => {
  sh("ip link set lo up; ipvsadm -C; ipvsadm --set 900 120 300");
  ipvs = openIpvsClient();
});

afterAll(() => {
  ipvs?.close();
  sh("ipvsadm -C; ipvsadm --set 900 120 300");
});

describe("apply on the real kernel", () => {
  it("(a) applies a rich rules file: ipvsadm-save -n prints the file's canonical emission", async () => {
    const table = await load(RICH);
    const r = await applyRuleTable(ipvs, table, { probe: moduleAvailability });
    expect(r.stage === "apply" && r.ok, JSON.stringify(r.stage === "apply" ? r.failed?.error.message : r)).toBe(true);
    expect(sh("ipvsadm-save -n")).toBe(emitIpvsadmSave(table));
    // what ipvsadm-save leaves out: thresholds (the fixture was recorded from ipvsadm-restore of the same file)
    expect(sh("ipvsadm -Ln --thresholds")).toBe(THRESHOLDS_FIXTURE);
    expect(sh("ipvsadm -L --timeout")).toBe("Timeout (tcp tcpfin udp): 900 120 300\n");
    // again: nothing to do
    const again = await applyRuleTable(ipvs, table, { probe: moduleAvailability });
    expect(again.stage === "apply" && again.plan.steps.length).toBe(0);
  });

  it("(a) reaches a changed file with the smallest plan, and back", async () => {
    const changed = await load(CHANGED);
    const r = await applyRuleTable(ipvs, changed, { probe: moduleAvailability });
    if (r.stage !== "apply") throw new Error(r.stage);
    expect(r.ok).toBe(true);
    expect(r.plan.steps.map((s) => s.op).sort()).toEqual(
      ["add-dest", "add-dest", "add-dest", "add-service", "delete-dest", "delete-dest", "delete-service", "edit-dest", "edit-dest", "edit-service", "set-timeouts"].sort(),
    );
    expect(sh("ipvsadm-save -n")).toBe(emitIpvsadmSave(changed));
    expect(sh("ipvsadm -L --timeout")).toBe("Timeout (tcp tcpfin udp): 901 121 301\n");
    expect(sh("ipvsadm -Ln --thresholds -t 192.0.2.100:80")).toMatch(/-> 192\.0\.2\.11:80\s+50\s+5\s/);
    const back = await applyRuleTable(ipvs, await load(RICH), { probe: moduleAvailability });
    expect(back.ok).toBe(true);
    expect(sh("ipvsadm -Ln --thresholds")).toBe(THRESHOLDS_FIXTURE);
  });

  it("(b) refuses bad input with a clear error and changes nothing", async () => {
    const before = state();
    const good = "-A -t 192.0.2.200:80 -s rr\n-a -t 192.0.2.200:80 -r 198.51.100.9:80 -m -w 1\n";
    const cases: [string, string, RegExp][] = [
      ["malformed", `${good}-a -t 192.0.2.200:80 -r 198.51.100.10:80 -m -w\n`, /line 3, column 45 \(-w\): -w needs a value/],
      ["weight out of range", `${good}-a -t 192.0.2.200:80 -r 198.51.100.10:80 -m -w 2147483648\n`, /line 3, column 48 \(-w\): weight 2147483648 is out of range \(0\.\.2147483647\)/],
      ["port 0", `${good}-A -t 192.0.2.201:0 -s rr\n`, /line 3, column 7 \(-t\): port 0 \(any port\) is only allowed for a persistent service \(-p\)/],
      ["port 65536", `${good}-A -t 192.0.2.201:65536 -s rr\n`, /line 3, column 7 \(-t\): virtual service "192\.0\.2\.201:65536": port 65536 is out of range/],
      ["unknown scheduler", `${good}-A -t 192.0.2.201:80 -s foo\n`, /line 3, column 25 \(-s\): unknown scheduler "foo"/],
      ["missing scheduler module", `${good}-A -t 192.0.2.201:80 -s twos\n`, /line 3 \(-s\): -t 192\.0\.2\.201:80: scheduler "twos": this kernel has no module ip_vs_twos/],
      ["lower threshold without upper", `${good}-a -t 192.0.2.200:80 -r 198.51.100.10:80 -m -w 1 -y 10\n`, /line 3 \(-y\): .*lower threshold 10 is above the upper threshold 0/],
    ];
    for (const [name, text, message] of cases) {
      const io = captureIo({ "bad.rules": text });
      const code = await runCli(["restore", "bad.rules"], { io, kernel: realKernel() });
      expect([name, code, io.out]).toEqual([name, 2, ""]);
      expect(io.err, name).toMatch(/^lvsdash restore: bad\.rules: nothing changed: 1 problem:\n/);
      expect(io.err, name).toMatch(message);
    }
    // none of them changed anything (each could only have added): one read of the whole state after all
    expect(state()).toBe(before);
  });

  it("(c) rolls back a failure forced mid-apply over the real transport", async () => {
    const before = state();
    const changed = await load(CHANGED);
    const steps = 11;
    for (const n of [1, 4, 7, steps]) {
      const { transport, writes } = failingAt(n);
      const client = new IpvsClient(transport);
      try {
        const r = await applyRuleTable(client, changed, { probe: moduleAvailability });
        if (r.stage !== "apply") throw new Error(r.stage);
        expect(r.plan.steps.length).toBe(steps);
        expect([n, r.ok, r.done.length]).toEqual([n, false, n - 1]);
        expect(r.failed?.error.message).toMatch(/^the kernel refused IPVS_CMD_/);
        expect(r.rollback).toMatchObject({ ok: true, failures: [], remaining: [] });
        expect(writes()).toBe(n + (n - 1)); // the failed one, then one undo per step done (none of these has two)
        console.log(`failing at write ${n} (${r.failed?.step.op}): ${r.done.length} done, ${r.rollback!.undone.length} undone, rollback checked: ${r.rollback!.ok}`);
      } finally {
        client.close();
      }
      expect(state(), `failing at command ${n}`).toBe(before);
    }
  });

  it("(d) lvsdash status and save print what ipvsadm prints (header line included)", async () => {
    const cli = async (...argv: string[]) => {
      const io = captureIo();
      expect(await runCli(argv, { io, kernel: realKernel() })).toBe(0);
      return io.out;
    };
    const [stats, exact, rate, save] = sh("ipvsadm -Ln --stats; echo @@; ipvsadm -Ln --stats --exact; echo @@; ipvsadm -Ln --rate; echo @@; ipvsadm-save -n").split("@@\n");
    expect(await cli("status", "--exact")).toBe(exact);
    expect(await cli("status")).toBe(stats);
    expect(await cli("status", "--rate")).toBe(rate);
    expect(await cli("save")).toBe(save);
    // (bin/lvsdash.js as a process of its own: test/kernel/ipvs-counters.test.ts)
  });
});
