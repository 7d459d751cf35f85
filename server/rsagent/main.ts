// `lvsdash rs-agent`: the real-server agent, headless (no Next, no UI). Runs as root on a real server (or in
// a real server's network namespace: `ip netns exec NS lvsdash rs-agent ...`), serves RS_OPS over HTTP(S)
// with a bearer token, and rolls back a pending transaction when it stops.
//
// Settings, flags first, then the environment:
//   --listen HOST[:PORT]   LVSDASH_RS_LISTEN       required: the management address (port 9443 by default)
//   --token-file PATH      LVSDASH_RS_TOKEN_FILE   default /etc/lvs-dashboard/rs-token; created (0600) with a new
//                                                  token on first start, which is printed once
//                          LVSDASH_RS_TOKEN        the token itself (no file)
//   --cert PEM --key PEM   LVSDASH_RS_CERT/_KEY    HTTPS; the certificate's SHA-256 fingerprint is printed for pairing
//   --state-dir DIR        LVSDASH_RS_STATE_DIR    default /var/lib/lvs-dashboard-rs: the journal of the change in
//                                                  progress (pending.json), rolled back at the next start if the
//                                                  agent died before it was confirmed
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isIP } from "node:net";

import { createOpDispatcher } from "@/server/agent/dispatcher";

import { checkTokenText, listenRsAgent, loadOrCreateToken, type RsListener } from "./http";
import { createTransactionManager, type JournalStore, type PersistedTransaction, type TransactionManager } from "./journal";
import { realServerKernel, realServerOps } from "./ops";
import { RS_DEFAULT_PORT, RS_OPS } from "./protocol";

export const DEFAULT_TOKEN_FILE = "/etc/lvs-dashboard/rs-token";
export const DEFAULT_STATE_DIR = "/var/lib/lvs-dashboard-rs";

export interface RsAgentSettings {
  host: string;
  port: number;
  token: { value: string } | { file: string };
  tls?: { certFile: string; keyFile: string };
  stateDir: string;
}

/** The journal in `dir`/pending.json (0600), replaced atomically, removed when nothing is in progress. */
export function fileJournalStore(dir: string): JournalStore {
  const path = join(dir, "pending.json");
  return {
    async save(t) {
      if (t === null) return rm(path, { force: true });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(`${path}.tmp`, JSON.stringify(t), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    },
    async load() {
      try {
        return JSON.parse(await readFile(path, "utf8")) as PersistedTransaction;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw error;
      }
    },
  };
}

/** "192.0.2.11:9443", "192.0.2.11", "[2001:db8::1]:9443", "0.0.0.0:9443". */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([0-9.]+|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new Error(`--listen: not HOST[:PORT]: ${JSON.stringify(text)}`);
  const host = m[1]!;
  const port = m[2] === undefined ? RS_DEFAULT_PORT : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--listen: port ${m[2]} is not 1..65535`);
  if (/^[0-9.]+$/.test(host) && isIP(host) !== 4) throw new Error(`--listen: ${host} is not an IPv4 address`);
  return { host, port };
}

export interface ResolveInput {
  listen?: string;
  tokenFile?: string;
  cert?: string;
  key?: string;
  stateDir?: string;
}

export function resolveSettings(flags: ResolveInput, env: Readonly<Record<string, string | undefined>> = process.env): RsAgentSettings {
  const listen = flags.listen ?? env.LVSDASH_RS_LISTEN;
  if (!listen) throw new Error("give the address to listen on: --listen 192.0.2.11:9443 (or LVSDASH_RS_LISTEN)");
  const cert = flags.cert ?? env.LVSDASH_RS_CERT;
  const key = flags.key ?? env.LVSDASH_RS_KEY;
  if ((cert === undefined) !== (key === undefined)) throw new Error("HTTPS needs both --cert and --key");
  const tokenFile = flags.tokenFile ?? env.LVSDASH_RS_TOKEN_FILE;
  const token = tokenFile === undefined && env.LVSDASH_RS_TOKEN ? { value: checkTokenText(env.LVSDASH_RS_TOKEN) } : { file: tokenFile ?? DEFAULT_TOKEN_FILE };
  const stateDir = flags.stateDir ?? env.LVSDASH_RS_STATE_DIR ?? DEFAULT_STATE_DIR;
  return { ...parseListen(listen), token, stateDir, ...(cert && key ? { tls: { certFile: cert, keyFile: key } } : {}) };
}

export interface RunningRsAgent {
  listener: RsListener;
  transactions: TransactionManager;
  /** Rolls back a pending transaction, then stops listening. */
  stop(): Promise<void>;
}

export async function startRsAgent(settings: RsAgentSettings, out: (line: string) => void): Promise<RunningRsAgent> {
  let token: string;
  if ("value" in settings.token) {
    token = settings.token.value;
  } else {
    const loaded = await loadOrCreateToken(settings.token.file);
    token = loaded.token;
    if (loaded.created) {
      out(`rs-agent: new token written to ${settings.token.file} (shown once; pair the dashboard with it):`);
      out(`  ${token}`);
    }
  }
  const tls = settings.tls
    ? { cert: await readFile(settings.tls.certFile, "utf8"), key: await readFile(settings.tls.keyFile, "utf8") }
    : undefined;
  const log = (line: string) => out(`rs-agent: ${line}`);
  const transactions = createTransactionManager({
    kernel: realServerKernel,
    store: fileJournalStore(settings.stateDir),
    onTimerRollback: (r) => log(`transaction ${r.id} not confirmed in time: rolled back (${r.rollback?.errors.length ?? 0} undo errors)`),
  });
  const recovered = await transactions.recover();
  if (recovered) {
    const errors = recovered.rollback?.errors ?? [];
    log(`transaction ${recovered.id} was left unconfirmed by the last run: rolled back (${recovered.rollback?.undone.length ?? 0} undone${errors.length ? `; FAILED: ${errors.join("; ")}` : ""})`);
  }
  const exchange = createOpDispatcher(RS_OPS, realServerOps(transactions), {
    onInternalError: (op, error) => log(`${op} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`),
  });
  const listener = await listenRsAgent({ host: settings.host, port: settings.port, token, exchange, ...(tls ? { tls } : {}), log });
  out(`rs-agent listening on ${listener.url}${listener.fingerprint ? ` (certificate SHA-256 ${listener.fingerprint})` : " (plain HTTP: use --cert/--key off a trusted network)"}`);
  return {
    listener,
    transactions,
    async stop() {
      const rolledBack = await transactions.close();
      if (rolledBack) log(`stopping: pending transaction ${rolledBack.id} rolled back`);
      await listener.close();
    },
  };
}
