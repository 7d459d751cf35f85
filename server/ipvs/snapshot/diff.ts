// What changed between two tables: services and real servers added, removed or changed (field by field),
// timeouts and sync daemons. Counters, rates and connection counts are not configuration and are ignored, as
// are the kernel-owned service flag HASHED and attributes this code has no name for. PURE.
//
// The same function compares two kernel snapshots (what changed on the director) and a snapshot with a rules
// file turned into a TableState (rules.ts): what applying the file would do (server/ipvs/apply).
import { describeService } from "@/server/ipvs/netlink/client";
import { destRule } from "@/server/ipvs/netlink/save";
import type { Destination, Netmask, Service, ServiceExtended, ServiceWithDestinations, SyncDaemon, SyncState, Timeouts } from "@/server/ipvs/netlink/types";
import { destKey, serviceKey, type TableState } from "./model";

export interface FieldChange {
  field: string;
  before: string | number | boolean | null;
  after: string | number | boolean | null;
}

export type SnapshotChange =
  | { kind: "service-added"; service: Service; after: ServiceWithDestinations }
  | { kind: "service-removed"; service: Service; before: ServiceWithDestinations }
  | { kind: "service-changed"; service: Service; before: ServiceWithDestinations; after: ServiceWithDestinations; fields: FieldChange[] }
  | { kind: "destination-added"; service: Service; after: Destination }
  | { kind: "destination-removed"; service: Service; before: Destination }
  | { kind: "destination-changed"; service: Service; before: Destination; after: Destination; fields: FieldChange[] }
  | { kind: "timeouts-changed"; fields: FieldChange[] }
  | { kind: "daemon-added"; after: SyncDaemon }
  | { kind: "daemon-removed"; before: SyncDaemon }
  | { kind: "daemon-changed"; before: SyncDaemon; after: SyncDaemon; fields: FieldChange[] };

function netmaskText(m: Netmask | undefined): string | null {
  if (!m) return null;
  return m.kind === "mask" ? m.mask : String(m.prefix);
}

/** The settings of a service that SET_SERVICE writes, by the names the diff reports them under. */
function serviceFields(s: ServiceWithDestinations): Record<string, FieldChange["before"]> {
  return {
    scheduler: s.scheduler,
    persistent: s.flags.persistent,
    timeout: s.timeout,
    netmask: netmaskText(s.service.netmask),
    persistenceEngine: s.persistenceEngine || null,
    onePacket: s.flags.onePacket,
    sched1: s.flags.sched1,
    sched2: s.flags.sched2,
    sched3: s.flags.sched3,
  };
}

/** The settings of a destination that SET_DEST writes. Tunnel settings count only for tunnelling ones: the
 *  kernel reports type ipip, port 0 for every destination. */
function destFields(d: Destination): Record<string, FieldChange["before"]> {
  const f: Record<string, FieldChange["before"]> = {
    forward: d.forward,
    weight: d.weight,
    upperThreshold: d.upperThreshold,
    lowerThreshold: d.lowerThreshold,
  };
  if (d.forward === "tunnel") {
    f.tunnelType = d.tunnel?.type ?? "ipip";
    f.tunnelPort = d.tunnel?.port ?? 0;
    f.tunnelCsum = d.tunnel?.csum ?? false;
    f.tunnelRemcsum = d.tunnel?.remcsum ?? false;
  }
  return f;
}

function daemonFields(d: SyncDaemon): Record<string, FieldChange["before"]> {
  return {
    mcastInterface: d.mcastInterface,
    syncId: d.syncId,
    syncMaxLen: d.syncMaxLen ?? null,
    mcastGroup: d.mcastGroup ?? null,
    mcastPort: d.mcastPort ?? null,
    mcastTtl: d.mcastTtl ?? null,
  };
}

function fieldChanges(a: Record<string, FieldChange["before"]>, b: Record<string, FieldChange["before"]>, onlyIn?: (k: string) => boolean): FieldChange[] {
  const out: FieldChange[] = [];
  for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (onlyIn && !onlyIn(field)) continue;
    const before = a[field] ?? null;
    const after = b[field] ?? null;
    if (before !== after) out.push({ field, before, after });
  }
  return out;
}

/**
 * The changes that turn `before` into `after`, in a stable order: per service (in `after`'s order, then the
 * removed ones), the service itself and then its destinations; then timeouts, then daemons. A timeout absent
 * from either side is not compared, and daemon fields the desired side leaves out (undefined) neither.
 */
export function diffSnapshots(before: TableState, after: TableState): SnapshotChange[] {
  const changes: SnapshotChange[] = [];
  const old = new Map(before.services.map((s) => [serviceKey(s.service), s]));
  const seen = new Set<string>();
  for (const a of after.services) {
    const key = serviceKey(a.service);
    seen.add(key);
    const b = old.get(key);
    if (!b) {
      changes.push({ kind: "service-added", service: a.service, after: a });
      continue;
    }
    const fields = fieldChanges(serviceFields(b), serviceFields(a));
    if (fields.length) changes.push({ kind: "service-changed", service: a.service, before: b, after: a, fields });
    const oldDests = new Map(b.destinations.map((d) => [destKey(d), d]));
    const seenDests = new Set<string>();
    for (const d of a.destinations) {
      const dk = destKey(d);
      seenDests.add(dk);
      const od = oldDests.get(dk);
      if (!od) changes.push({ kind: "destination-added", service: a.service, after: d });
      else {
        const df = fieldChanges(destFields(od), destFields(d));
        if (df.length) changes.push({ kind: "destination-changed", service: a.service, before: od, after: d, fields: df });
      }
    }
    for (const od of b.destinations) if (!seenDests.has(destKey(od))) changes.push({ kind: "destination-removed", service: a.service, before: od });
  }
  for (const b of before.services) if (!seen.has(serviceKey(b.service))) changes.push({ kind: "service-removed", service: b.service, before: b });

  const t = timeoutChanges(before.timeouts, after.timeouts);
  if (t.length) changes.push({ kind: "timeouts-changed", fields: t });

  const oldDaemons = new Map(before.daemons.map((d) => [d.state, d]));
  const newStates = new Set<SyncState>();
  for (const a of after.daemons) {
    newStates.add(a.state);
    const b = oldDaemons.get(a.state);
    if (!b) changes.push({ kind: "daemon-added", after: a });
    else {
      const want = daemonFields(a);
      const fields = fieldChanges(daemonFields(b), want, (k) => want[k] !== null);
      if (fields.length) changes.push({ kind: "daemon-changed", before: b, after: a, fields });
    }
  }
  for (const b of before.daemons) if (!newStates.has(b.state)) changes.push({ kind: "daemon-removed", before: b });
  return changes;
}

function timeoutChanges(a: Timeouts, b: Timeouts): FieldChange[] {
  const out: FieldChange[] = [];
  for (const field of ["tcp", "tcpFin", "udp"] as const) {
    const x = a[field];
    const y = b[field];
    if (x !== undefined && y !== undefined && x !== y) out.push({ field, before: x, after: y });
  }
  return out;
}

// ---- text ------------------------------------------------------------------------------------------------

const show = (v: FieldChange["before"]) => (v === null ? "(none)" : String(v));
const fieldText = (fields: FieldChange[]) => fields.map((f) => `${f.field} ${show(f.before)} -> ${show(f.after)}`).join(", ");

function destName(d: Destination): string {
  return d.family === "inet6" ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}

/** One line per change, for an administrator: "+ service TCP 192.0.2.1:80 (rr, 2 real servers)". */
export function describeChange(c: SnapshotChange): string {
  switch (c.kind) {
    case "service-added":
      return `+ service ${describeService(c.service)} (${c.after.scheduler}, ${c.after.destinations.length} real server${c.after.destinations.length === 1 ? "" : "s"})`;
    case "service-removed":
      return `- service ${describeService(c.service)} (with ${c.before.destinations.length} real server${c.before.destinations.length === 1 ? "" : "s"})`;
    case "service-changed":
      return `~ service ${describeService(c.service)}: ${fieldText(c.fields)}`;
    case "destination-added":
      return `+ real server ${destName(c.after)} in ${describeService(c.service)} (${c.after.forward}, weight ${c.after.weight})`;
    case "destination-removed":
      return `- real server ${destName(c.before)} in ${describeService(c.service)}`;
    case "destination-changed":
      return `~ real server ${destName(c.after)} in ${describeService(c.service)}: ${fieldText(c.fields)}`;
    case "timeouts-changed":
      return `~ timeouts: ${fieldText(c.fields)}`;
    case "daemon-added":
      return `+ ${c.after.state} sync daemon on ${c.after.mcastInterface} (syncid ${c.after.syncId})`;
    case "daemon-removed":
      return `- ${c.before.state} sync daemon on ${c.before.mcastInterface} (syncid ${c.before.syncId})`;
    case "daemon-changed":
      return `~ ${c.after.state} sync daemon: ${fieldText(c.fields)}`;
  }
}

/** A destination's rule with the thresholds ipvsadm-save leaves out. */
export function destRuleWithThresholds(s: ServiceExtended, d: Destination): string {
  let line = destRule(s, d);
  if (d.upperThreshold) line += ` -x ${d.upperThreshold}`;
  if (d.lowerThreshold) line += ` -y ${d.lowerThreshold}`;
  return line;
}
