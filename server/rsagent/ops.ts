// The real-server agent's op handlers: facts from server/kernel/rsnet.ts, transactions from journal.ts over
// the real kernel (rtnl.ts addresses, sysctl.ts writes, rsnet.ts links, routes, modules and sysctl reads).
import { readFile } from "node:fs/promises";

import { AgentError } from "@/server/agent/protocol";
import type { TableHandlers } from "@/server/agent/dispatcher";
import { addAddress, delAddress } from "@/server/kernel/rtnl";
import {
  deleteDefaultRoute,
  linkIsUp,
  loadModule,
  moduleLoaded,
  parseSysctlKey,
  readDefaultRoute,
  readRealServerFacts,
  readSysctl,
  replaceDefaultRoute,
  setLinkUp,
  unloadModule,
} from "@/server/kernel/rsnet";
import { writeSysctl } from "@/server/kernel/sysctl";

import { TransactionNotPending, type RsKernel, type TransactionManager } from "./journal";
import type { RS_OPS } from "./protocol";

export type RsOpHandlers = TableHandlers<typeof RS_OPS>;

/** This namespace's kernel. */
export const realServerKernel: RsKernel = {
  parseSysctlKey,
  readSysctl,
  writeSysctl: (ref, value) => writeSysctl(ref.name, ref.scope, value),
  addAddress,
  delAddress,
  linkIsUp,
  setLinkUp,
  moduleLoaded,
  loadModule,
  unloadModule,
  readDefaultRoute,
  replaceDefaultRoute,
  deleteDefaultRoute,
  hostname: async () => (await readFile("/proc/sys/kernel/hostname", "utf8")).trim(),
};

/** An id that is not the pending transaction is the caller's mistake, not the agent's. */
async function asInputError<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof TransactionNotPending) throw new AgentError("invalid_input", e.message);
    throw e;
  }
}

export function realServerOps(transactions: TransactionManager, readFacts = readRealServerFacts): RsOpHandlers {
  return {
    "rs.facts": () => readFacts(),
    "rs.apply": (input, { signal }) => transactions.apply(input.steps, input.confirmTimeoutSeconds, signal),
    "rs.confirm": (input) => asInputError(() => transactions.confirm(input.id)),
    "rs.rollback": (input) => asInputError(() => transactions.rollback(input.id)),
    "rs.status": () => transactions.status(),
  };
}
