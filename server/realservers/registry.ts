// Paired real-server agents, as the dashboard uses them: pair (check the URL and token by asking the agent for
// its facts, then store them), unpair, list, and a client per paired agent. A wizard finds the agent of its
// real server with forAddress(rs.address) and sends the plan's steps as they are:
//
//   const paired = registry.forAddress("192.0.2.11");
//   const r = await registry.client(paired.id).call("rs.apply", { steps: plan.realServers[0].steps, confirmTimeoutSeconds: 60 });
//   ... verify ...; await registry.client(paired.id).call("rs.confirm", { id: r.id });   // (r.status === "pending")
//
// The diagnostics read rs.facts, whose output is a HostFacts of server/diagnostics/sysctls.ts plus routes,
// ipip and tunl0.
import type { RealServerFacts } from "@/server/kernel/rsnet";
import { dataDir } from "@/server/history/store";

import { createRsAgentClient, normalizeFingerprint, parseAgentUrl, type RsAgentClient, type RsAgentClientOptions } from "./client";
import { RealServerStore, type PairedRealServer } from "./store";

export class RealServerNotFound extends Error {
  override name = "RealServerNotFound";
}

/** A pairing request that is wrong before any agent is asked (bad URL, bad fingerprint). */
export class PairingInputError extends Error {
  override name = "PairingInputError";
}

export interface PairInput {
  url: string;
  token: string;
  fingerprint?: string | undefined;
  name?: string | undefined;
}

export interface RealServerRegistry {
  list(): PairedRealServer[];
  /** Asks the agent for rs.facts with these credentials; stores them only when it answers. */
  pair(input: PairInput): Promise<{ server: PairedRealServer; facts: RealServerFacts }>;
  unpair(id: number): boolean;
  facts(id: number): Promise<RealServerFacts>;
  /** The client of a paired agent (throws RealServerNotFound). */
  client(id: number): RsAgentClient;
  /** The paired agent of the real server with this address (a wizard's real server), if any. */
  forAddress(address: string): PairedRealServer | undefined;
}

/** The real server's own IPv4 addresses: every interface but lo and tunl0 (which hold VIPs). */
export function ownAddresses(facts: RealServerFacts): string[] {
  return facts.interfaces
    .filter((i) => i.name !== "lo" && i.name !== "tunl0" && i.linkType !== "loopback")
    .flatMap((i) => i.addresses.filter((a) => a.prefixLen < 32).map((a) => a.address));
}

export function createRealServerRegistry(
  store: RealServerStore,
  makeClient: (options: RsAgentClientOptions) => RsAgentClient = createRsAgentClient,
  now: () => number = Date.now,
): RealServerRegistry {
  const clientOf = (id: number) => {
    const entry = store.get(id);
    if (!entry) throw new RealServerNotFound(`no paired real server with id ${id}`);
    return { entry, client: makeClient({ url: entry.url, token: entry.token, fingerprint: entry.fingerprint }) };
  };
  return {
    list: () => store.list(),

    async pair(input) {
      let url: URL;
      try {
        url = parseAgentUrl(input.url);
      } catch (e) {
        throw new PairingInputError((e as Error).message);
      }
      let fingerprint: string | null = null;
      if (input.fingerprint) {
        fingerprint = normalizeFingerprint(input.fingerprint);
        if (!fingerprint) throw new PairingInputError("a certificate fingerprint is 32 hex bytes (AB:CD:...), as the rs-agent prints it");
        if (url.protocol !== "https:") throw new PairingInputError("a certificate fingerprint only makes sense with https://");
      }
      const origin = url.origin;
      const facts = await makeClient({ url: origin, token: input.token.trim(), fingerprint }).call("rs.facts", {});
      const server = store.upsert({
        name: input.name?.trim() || facts.hostname,
        url: origin,
        token: input.token.trim(),
        fingerprint,
        hostname: facts.hostname,
        addresses: ownAddresses(facts),
        at: now(),
      });
      return { server, facts };
    },

    unpair: (id) => store.remove(id),

    async facts(id) {
      const { entry, client } = clientOf(id);
      const facts = await client.call("rs.facts", {});
      store.seen(entry.id, facts.hostname, ownAddresses(facts), now());
      return facts;
    },

    client: (id) => clientOf(id).client,

    forAddress: (address) => store.list().find((r) => r.addresses.includes(address)),
  };
}

const globalForRegistry = globalThis as unknown as { lvsdashRealServers?: RealServerRegistry };

/** The process's registry on dataDir()/realservers.sqlite, opened on first use. */
export function sharedRealServerRegistry(): RealServerRegistry {
  globalForRegistry.lvsdashRealServers ??= createRealServerRegistry(RealServerStore.open(dataDir()));
  return globalForRegistry.lvsdashRealServers;
}
