// The wizard in the agent: the real kernel behind WizardKernel (server/kernel/: IPVS over generic netlink,
// addresses with `ip`, sysctls through the allow-list of server/kernel/sysctl.ts, nftables JSON, HTTP probes),
// one WizardManager per agent process, and the handler bodies of the wizard.* ops (registered in
// server/agent/ops.ts; declared in server/agent/protocol.ts).
import { existsSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

import { z } from "zod";

import { AgentError, agentSocketPath } from "@/server/agent/protocol";
import { IpvsError } from "@/server/ipvs/netlink/client";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { openIpvsClient } from "@/server/kernel/genl/ipvs";
import { moduleAvailability, type ModuleAvailability } from "@/server/kernel/modules";
import { createSnatTable, deleteTable, listTables } from "@/server/kernel/nft";
import { httpProbe } from "@/server/kernel/probe";
import { addAddress, delAddress, readLinksAndAddresses, readRoutes } from "@/server/kernel/rtnl";
import { readSysctls, writeSysctl, type GlobalSysctl } from "@/server/kernel/sysctl";

import { WizardBusyError, WizardManager, type JournalStore, type PendingChange, type WizardKernel, type WizardStatus } from "./apply";
import { wizardInput } from "./input";
import { hasErrors } from "./preflight";
import { wizardApplyInput, wizardIdInput, type WizardReview } from "./protocol";
import { renderPlan } from "./render";
import type { DirectorState, StateWanted } from "./state";

// ---------------------------------------------------------------------------------------------------------
// The real kernel
// ---------------------------------------------------------------------------------------------------------

/** The director's state in this network namespace. */
export async function readDirectorState(wanted: StateWanted): Promise<DirectorState> {
  const ipvs = openIpvsClient();
  try {
    const [la, routes, sysctls, nftTables, ipvsState] = await Promise.all([
      readLinksAndAddresses(),
      readRoutes(),
      readSysctls(),
      listTables().catch(() => [] as string[]),
      readSnapshot(ipvs).then(
        // Configuration only, as plain JSON (the state is kept in the journal file): no counters (bigint), no raw
        // attributes this code has no name for (bytes). diffSnapshots compares neither.
        (s) => ({
          table: {
            services: s.services.map(({ stats: _s, ...svc }) => ({ ...svc, unknown: [], destinations: svc.destinations.map(({ stats: _d, ...d }) => ({ ...d, unknown: [] })) })),
            timeouts: s.timeouts,
            daemons: s.daemons.map((d) => ({ ...d, unknown: [] })),
          },
        }),
        (e: unknown) => ({ reason: e instanceof IpvsError && e.kind === "not-loaded" ? "the ip_vs module is not loaded" : String(e instanceof Error ? e.message : e) }),
      ),
    ]);
    const modules: Record<string, ModuleAvailability> = {};
    for (const m of wanted.modules) modules[m] = await moduleAvailability(m);
    const picked: Record<string, string | null> = {};
    for (const k of wanted.sysctls) picked[k] = sysctls[k] === undefined ? null : String(sysctls[k]);
    return {
      ipvs: "table" in ipvsState ? ipvsState.table : null,
      ...("reason" in ipvsState ? { ipvsReason: ipvsState.reason } : {}),
      links: la.links,
      addresses: la.addresses,
      routes,
      sysctls: picked,
      modules,
      nftTables,
    };
  } finally {
    ipvs.close();
  }
}

export function realWizardKernel(): WizardKernel {
  const ipvs = openIpvsClient();
  return {
    readState: readDirectorState,
    ipvs,
    addAddress,
    delAddress,
    readSysctl: async (key) => {
      const v = (await readSysctls())[key];
      return v === undefined ? null : String(v);
    },
    writeSysctl: (key, value) => writeSysctl(key as GlobalSysctl, undefined, Number(value)),
    createSnatTable: (s) => createSnatTable(s),
    deleteTable,
    probe: httpProbe,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Op handlers
// ---------------------------------------------------------------------------------------------------------

/** The pending change, next to the agent's socket (one agent per socket, and per network namespace in the lab):
 *  JSON, written to a temporary file and renamed over the old one, 0600. */
export function fileJournalStore(path: string): JournalStore {
  return {
    async save(change) {
      if (!change) return rm(path, { force: true });
      const tmp = `${path}.tmp`;
      await writeFile(tmp, JSON.stringify(change), { mode: 0o600 });
      await rename(tmp, path);
    },
    async load() {
      try {
        return JSON.parse(await readFile(path, "utf8")) as PendingChange;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw e;
      }
    },
  };
}

const journalPath = () => join(dirname(agentSocketPath()), "wizard-journal.json");

let manager: WizardManager | undefined;
const theManager = () => (manager ??= new WizardManager(realWizardKernel(), { store: fileJournalStore(journalPath()) }));

/** At agent start (this module is loaded with the op table): roll back a change an earlier agent left
 *  unconfirmed. Touches the kernel only when there is one; never in a web-only process. */
function recoverAtStart(): void {
  if (process.env.LVSDASH_WEB_ONLY === "1" || !existsSync(journalPath())) return;
  theManager()
    .recover()
    .then(
      (s) => s && process.stderr.write(`lvs-dashboard agent: rolled back the unconfirmed wizard change ${s.summary ?? s.id} (${s.rollback?.ok ? "director as before" : `NOT as before: ${s.rollback?.remaining.join("; ")}`})\n`),
      (e: unknown) => process.stderr.write(`lvs-dashboard agent: could not roll back the unconfirmed wizard change: ${e instanceof Error ? e.message : String(e)}\n`),
    );
}

const busy = (e: unknown): never => {
  throw e instanceof WizardBusyError ? new AgentError("invalid_input", e.message) : e;
};

export function createWizardOps(get: () => WizardManager = theManager) {
  if (get === theManager) recoverAtStart();
  const review = async (input: z.output<typeof wizardInput>): Promise<WizardReview> => {
    const r = await get().review(input);
    return { problems: r.problems, canApply: !hasErrors(r.problems), plan: renderPlan(r.plan) };
  };
  return {
    "wizard.preflight": async (input: z.output<typeof wizardInput>) => (await review(input)).problems,
    "wizard.plan": review,
    "wizard.apply": async ({ input, fingerprint }: z.output<typeof wizardApplyInput>): Promise<WizardStatus> => {
      try {
        return get().start(input, fingerprint).status;
      } catch (e) {
        return busy(e);
      }
    },
    "wizard.status": async (): Promise<WizardStatus> => get().current(),
    "wizard.confirm": ({ id }: z.output<typeof wizardIdInput>): Promise<WizardStatus> => get().confirm(id).catch(busy),
    "wizard.rollback": async ({ id }: z.output<typeof wizardIdInput>): Promise<WizardStatus> => get().rollbackNow(id).catch(busy),
  };
}
