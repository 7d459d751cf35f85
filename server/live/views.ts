// What the live pages receive: the sampler's events cut to what each page draws, as plain JSON (PURE).
//
//   overviewView(event)        every service without its real servers, the site-wide totals, the IPVS version
//   serviceView(event, key)    one service with its real servers, the connection timeouts
//
// Each is one of three kinds: "live" (a sample), "unavailable" (the kernel has no IPVS), "down" (the read
// failed: the agent is not running or did not answer). The failure's text comes from the caller's error
// adapter (`describe`), so that a page shows the same message a query would.
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";

import type { HistoryStatus, LiveEvent } from "./sampler";
import type { LiveDaemon, LiveService, LiveTotals } from "./step";

export interface ErrorDescription {
  message: string;
  /** The agent's error code ("unavailable", "timeout", ...) when the agent answered with one. */
  agentCode: string | null;
}

type Common = { t: number; history: HistoryStatus };

export type LiveView<T> =
  | (Common & { kind: "live"; seq: number; tickMs: number } & T)
  | (Common & { kind: "unavailable"; reason: string })
  | (Common & { kind: "down"; error: ErrorDescription });

export type ServiceSummary = Omit<LiveService, "destinations">;

export type OverviewView = LiveView<{
  services: ServiceSummary[];
  totals: LiveTotals;
  ipvsVersion: string | null;
  connTableSize: number | null;
}>;

export type ServiceView = LiveView<{
  /** null: no such service in the table now (removed, or a mistyped address). */
  service: LiveService | null;
  timeouts: { tcp: number | null; tcpFin: number | null; udp: number | null } | null;
}>;

function notLive(e: Exclude<LiveEvent, { kind: "sample" }>, describe: (error: unknown) => ErrorDescription) {
  return e.kind === "unavailable"
    ? ({ kind: "unavailable", t: e.t, history: e.history, reason: e.reason } as const)
    : ({ kind: "down", t: e.t, history: e.history, error: describe(e.error) } as const);
}

/** What every live view carries about its sample. */
const liveOf = (e: Extract<LiveEvent, { kind: "sample" }>) => ({ kind: "live", t: e.sample.t, seq: e.sample.seq, tickMs: e.tickMs, history: e.history }) as const;

/** The timeouts with a missing one as null (JSON has no undefined). */
const timeoutsOf = (to: { tcp?: number; tcpFin?: number; udp?: number }) => ({ tcp: to.tcp ?? null, tcpFin: to.tcpFin ?? null, udp: to.udp ?? null });

export function overviewView(e: LiveEvent, describe: (error: unknown) => ErrorDescription): OverviewView {
  if (e.kind !== "sample") return notLive(e, describe);
  const { sample } = e;
  return {
    ...liveOf(e),
    services: sample.summaries(),
    totals: sample.totals,
    ipvsVersion: sample.info?.version ?? null,
    connTableSize: sample.info?.connTableSize ?? null,
  };
}

export function serviceView(e: LiveEvent, key: string, describe: (error: unknown) => ErrorDescription): ServiceView {
  if (e.kind !== "sample") return notLive(e, describe);
  const { sample } = e;
  return {
    ...liveOf(e),
    service: sample.service(key),
    timeouts: sample.timeouts ? timeoutsOf(sample.timeouts) : null,
  };
}

/** The host page's IPVS facts from one `ipvs.snapshot` read: no services, no bigint. */
export type HostIpvsView =
  | {
      available: true;
      takenAt: number;
      version: string;
      versionCode: number;
      connTableSize: number;
      timeouts: { tcp: number | null; tcpFin: number | null; udp: number | null };
      daemons: LiveDaemon[];
      services: number;
      realServers: number;
    }
  | { available: false; reason: string };

export function hostIpvsView(data: { available: true; snapshot: DirectorSnapshot } | { available: false; reason: string }): HostIpvsView {
  if (!data.available) return data;
  const s = data.snapshot;
  return {
    available: true,
    takenAt: s.takenAt,
    version: s.info.version,
    versionCode: s.info.versionCode,
    connTableSize: s.info.connTableSize,
    timeouts: timeoutsOf(s.timeouts),
    daemons: s.daemons.map(({ unknown: _unknown, ...d }) => d),
    services: s.services.length,
    realServers: s.services.reduce((n, svc) => n + svc.destinations.length, 0),
  };
}
