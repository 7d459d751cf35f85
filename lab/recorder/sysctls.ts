// The sysctl recorder: for every mode x fault of lab/site, the HostFacts (server/kernel/sysctl.ts) of the
// director and of each real server, each read inside its own network namespace (net.ipv4.* is per
// namespace), into $LAB_ARTIFACTS/sysctls/<mode>-<case>.json; copy them to test/fixtures/sysctls/.
// One site per mode, each fault switched on, recorded and switched off again (the faults are sysctls and
// addresses: no traffic is needed).
// Usage (in the guest): node --import tsx lab/recorder/sysctls.ts [MODE...]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HostFacts } from "@/server/diagnostics/sysctls";
import { buildSite, type Site } from "../site/site";
import { FAULTS_BY_MODE, MODES, type Fault, type Mode } from "../site/spec";

const FAULTY_RS = "rs2";
const HOST_FACTS = fileURLToPath(new URL("./host-facts.ts", import.meta.url));
const out = join(process.env.LAB_ARTIFACTS ?? "/tmp/lab-record", "sysctls");

export interface SysctlRecording {
  mode: Mode;
  fault: Fault | null;
  vip: string;
  hosts: { node: string; role: string; facts: HostFacts }[];
}

/** HostFacts of one node, read by host-facts.ts inside its namespace. */
export async function hostFacts(site: Site, node: string, extra: readonly string[] = []): Promise<HostFacts> {
  const r = await site.exec(node, [process.execPath, "--import", "tsx", HOST_FACTS, ...extra, node], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as HostFacts;
}

async function recordCase(site: Site, mode: Mode, fault: Fault | null): Promise<void> {
  const id = `${mode}-${fault ? fault.kind : "healthy"}`;
  const t0 = Date.now();
  const hosts: SysctlRecording["hosts"] = [];
  for (const h of site.hosts.filter((x) => x.role === "director" || x.role === "real-server")) {
    hosts.push({ node: h.node, role: h.role, facts: await hostFacts(site, h.node) });
  }
  const rec: SysctlRecording = { mode, fault, vip: site.vip, hosts };
  writeFileSync(join(out, `${id}.json`), `${JSON.stringify(rec, null, 1)}\n`);
  process.stdout.write(`recorded sysctls ${id} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
}

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const wanted = process.argv.slice(2);
  const modes = MODES.filter((m) => wanted.length === 0 || wanted.includes(m));
  for (const mode of modes) {
    const site = await buildSite({ name: "sys", mode });
    try {
      await recordCase(site, mode, null);
      for (const kind of FAULTS_BY_MODE[mode]) {
        const fault: Fault = kind === "fullnat-no-conntrack" ? { kind } : { kind, rs: FAULTY_RS };
        await site.setFault(fault, true);
        await recordCase(site, mode, fault);
        await site.setFault(fault, false);
      }
    } finally {
      await site.destroy();
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`record sysctls: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
