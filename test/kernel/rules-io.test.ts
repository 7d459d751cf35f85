// Rules import/export on the real kernel (lab guest only), in the guest's root namespace: a keepalived.conf
// is reviewed (plan only: ipvsadm-save unchanged), refused with a stale fingerprint, applied with the right
// one (ipvsadm-save -n is the oracle), exported back and re-planned to nothing; an import whose second write
// the kernel refuses (injected on the real transport, as ipvs-apply.test.ts does) leaves the table as before.
//
// Run inside the lab: /work/main/.lab/lab test test/kernel/rules-io.test.ts
import { execFileSync } from "node:child_process";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { exportRules, importRules } from "@/server/ipvs/keepalived/rules-io";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import { moduleAvailability } from "@/server/kernel/modules";

import { failingAt } from "./failing-transport";

const sh = (script: string): string => execFileSync("sh", ["-c", script], { encoding: "utf8" });
const save = () => sh("ipvsadm-save -n");

const CONF = `
! from a keepalived director
global_defs { router_id LVS_LAB }
virtual_server 192.0.2.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    persistence_timeout 120
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 1
        TCP_CHECK { connect_timeout 3 }
    }
    real_server 192.0.2.12 80 {
        weight 2
    }
}
virtual_server 192.0.2.100 53 {
    lvs_sched rr
    lvs_method TUN
    protocol UDP
    real_server 192.0.2.21 53 { weight 1 }
}
`;

let ipvs: IpvsClient;

beforeAll(() => {
  // One service the import does not list: keepUnlisted (the default) must leave it alone.
  sh("ip link set lo up; ipvsadm -C; ipvsadm -A -t 198.51.100.200:80 -s rr; ipvsadm -a -t 198.51.100.200:80 -r 198.51.100.11:80 -m -w 1");
  ipvs = openIpvsClient();
});

afterAll(() => {
  ipvs?.close();
  sh("ipvsadm -C");
});

describe("keepalived.conf import on the real kernel", () => {
  let fingerprint = "";

  it("reviews: the plan, what it leaves out, and no change", async () => {
    const before = save();
    const r = await importRules(ipvs, moduleAvailability, { format: "keepalived", text: CONF, keepUnlisted: true, dryRun: true });
    if (r.stage !== "plan") throw new Error(JSON.stringify(r));
    expect([...r.commands].sort()).toEqual([
      "-A -t 192.0.2.100:80 -s wrr -p 120",
      "-A -u 192.0.2.100:53 -s rr",
      "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
      "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
      expect.stringMatching(/^-a -u 192\.0\.2\.100:53 -r 192\.0\.2\.21:53 -i -w 1( --tun-type ipip)?$/),
    ]);
    expect(r.notes).toEqual([expect.stringMatching(/1 health check/)]);
    fingerprint = r.fingerprint;
    expect(save()).toBe(before);
  });

  it("refuses to apply a plan other than the reviewed one, and changes nothing", async () => {
    const before = save();
    const r = await importRules(ipvs, moduleAvailability, { format: "keepalived", text: CONF, keepUnlisted: true, dryRun: false, fingerprint: "0000000000000000" });
    expect(r.stage).toBe("changed");
    expect(save()).toBe(before);
  });

  it("rolls back an import the kernel refuses halfway: ipvsadm-save is as before", async () => {
    const before = save();
    const failing = new IpvsClient(failingAt(3).transport);
    try {
      const r = await importRules(failing, moduleAvailability, { format: "keepalived", text: CONF, keepUnlisted: true, dryRun: false, fingerprint });
      expect(r).toMatchObject({ stage: "failed", failure: { command: expect.stringMatching(/^-[Aa] /), error: expect.stringMatching(/refused IPVS_CMD_NEW_DEST/), rolledBack: true, remaining: [] } });
    } finally {
      failing.close();
    }
    expect(save()).toBe(before);
  });

  it("applies the reviewed plan: ipvsadm-save shows the services, the unlisted one kept", async () => {
    const r = await importRules(ipvs, moduleAvailability, { format: "keepalived", text: CONF, keepUnlisted: true, dryRun: false, fingerprint });
    expect(r.stage).toBe("applied");
    const lines = save().trim().split("\n").sort();
    expect(lines).toEqual([
      "-A -t 192.0.2.100:80 -s wrr -p 120",
      "-A -t 198.51.100.200:80 -s rr",
      "-A -u 192.0.2.100:53 -s rr",
      "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
      "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
      "-a -t 198.51.100.200:80 -r 198.51.100.11:80 -m -w 1",
      expect.stringMatching(/^-a -u 192\.0\.2\.100:53 -r 192\.0\.2\.21:53 -i -w 1( --tun-type ipip)?$/),
    ]);
  });

  it("exports what the kernel has: ipvsadm-save text equal to ipvsadm's, keepalived blocks that re-plan to nothing", async () => {
    const state = await readSnapshot(ipvs);
    expect(exportRules(state, "ipvsadm-save")).toBe(save());
    const conf = exportRules(state, "keepalived");
    const again = await importRules(ipvs, moduleAvailability, { format: "keepalived", text: conf, keepUnlisted: false, dryRun: true });
    expect(again).toMatchObject({ stage: "plan", commands: [] });
  });
});
