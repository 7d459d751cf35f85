// Runs inside a director's network namespace (`ip netns exec <site>-dir node --import tsx ...`), started by
// test/kernel/wizard.test.ts: for each director step k of the wizard's plan, an apply whose k-th step fails
// with a real kernel error (the real kernel, with one argument spoiled: an interface that does not exist, a
// scheduler the kernel has no module for, a real server of a service that does not exist, an nftables rule in
// a table that does not exist), then one whose traffic verification fails. Prints one JSON line per case with
// the director oracle's output before and after.
import { execFileSync } from "node:child_process";

import type { IpvsClient } from "@/server/ipvs/netlink/client";
import { nftBatch } from "@/server/kernel/nft";
import { WizardManager, type WizardKernel } from "@/server/wizards/apply";
import { realWizardKernel } from "@/server/wizards/agent";
import { wizardInput } from "@/server/wizards/input";

import { DIRECTOR_ORACLE } from "./wizard-lab";

const oracle = () => execFileSync("sh", ["-ec", DIRECTOR_ORACLE], { encoding: "utf8" });

/** The real kernel, with the k-th changing call of the apply spoiled (k = Infinity: only the probes fail). */
function spoiled(real: WizardKernel, k: number): WizardKernel {
  let calls = 0;
  const nth = () => calls++ === k;
  const ipvs = new Proxy(real.ipvs, {
    get(target, prop, receiver) {
      const orig = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "newService") {
        return (cfg: Parameters<IpvsClient["newService"]>[0]) => target.newService(nth() ? { ...cfg, scheduler: "nosuchsched" } : cfg);
      }
      if (prop === "newDest") {
        return (svc: Parameters<IpvsClient["newDest"]>[0], d: Parameters<IpvsClient["newDest"]>[1]) =>
          target.newDest(nth() ? ({ ...svc, port: 1 } as typeof svc) : svc, d);
      }
      return typeof orig === "function" ? (orig as (...a: unknown[]) => unknown).bind(target) : orig;
    },
  });
  return {
    ...real,
    ipvs,
    addAddress: (ifname, address, len) => real.addAddress(nth() ? "lvsdash-nodev" : ifname, address, len),
    writeSysctl: async (key, value) => {
      if (nth()) throw Object.assign(new Error(`injected: write ${key} refused (EIO)`), { code: "EIO" });
      return real.writeSysctl(key, value);
    },
    createSnatTable: async (s) => {
      if (nth()) return nftBatch([{ add: { rule: { family: "ip", table: "lvsdash_nosuch", chain: "postrouting", expr: [{ accept: null }] } } }]);
      return real.createSnatTable(s);
    },
    probe: async (p) => (k === Infinity ? { ok: false, error: "injected: probe lost" } : real.probe(p)),
  };
}

async function main(): Promise<void> {
  const input = wizardInput.parse(JSON.parse(process.argv[2] ?? "{}"));
  const real = realWizardKernel();
  const steps = (await new WizardManager(real).review(input)).plan.director.length;
  for (const k of [...Array(steps).keys(), Infinity]) {
    const before = oracle();
    const m = new WizardManager(spoiled(real, k), { counterWaitMs: 0 });
    await m.start(input).done;
    const status = m.current();
    const after = oracle();
    process.stdout.write(`${JSON.stringify({ k: k === Infinity ? "verify" : k, steps, status, before, after })}\n`);
  }
  real.ipvs.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
