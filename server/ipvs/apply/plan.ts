// The steps that turn the kernel's table into the desired one, from diffSnapshots(current, desired): the
// smallest set of NEW/SET/DEL commands, each with what it replaces so that it can be undone. PURE.
//
// Order: real servers and services that go away first, then edits of services, new services with their real
// servers, edits and additions of real servers, timeouts, daemons. Undoing runs the inverses backwards.
import { serviceRule, serviceSwitch } from "@/server/ipvs/netlink/save";
import { destinationIdentity, type Destination, type DestinationConfig, type Service, type ServiceConfig, type ServiceExtended, type ServiceWithDestinations, type SyncDaemon, type SyncDaemonConfig, type Timeouts } from "@/server/ipvs/netlink/types";
import { describeChange, destRuleWithThresholds, diffSnapshots, type SnapshotChange } from "@/server/ipvs/snapshot/diff";
import { serviceKey, type TableState } from "@/server/ipvs/snapshot/model";

export type ApplyStep =
  | { op: "add-service"; service: ServiceExtended }
  | { op: "edit-service"; service: ServiceExtended; before: ServiceExtended }
  | { op: "delete-service"; before: ServiceWithDestinations }
  | { op: "add-dest"; service: ServiceExtended; dest: Destination }
  | { op: "edit-dest"; service: ServiceExtended; dest: Destination; before: Destination }
  | { op: "delete-dest"; service: ServiceExtended; dest: Destination }
  | { op: "set-timeouts"; timeouts: Timeouts; before: Timeouts }
  | { op: "start-daemon"; daemon: SyncDaemon }
  | { op: "stop-daemon"; daemon: SyncDaemon };

export interface ApplyPlan {
  /** What differs, field by field (diffSnapshots). */
  changes: SnapshotChange[];
  steps: ApplyStep[];
}

export interface PlanOptions {
  /** Leave services the desired table does not list alone (ipvsadm-restore without -C); default: remove them. */
  keepUnlisted?: boolean;
  /** Stop sync daemons the desired table does not list; default: leave them (ipvsadm-save does not write them). */
  stopUnlistedDaemons?: boolean;
}

const withoutDests = ({ destinations: _d, ...s }: ServiceWithDestinations): ServiceExtended => s;

export function planApply(current: TableState, desired: TableState, opts: PlanOptions = {}): ApplyPlan {
  let changes = diffSnapshots(current, desired);
  if (opts.keepUnlisted) changes = changes.filter((c) => c.kind !== "service-removed");
  if (!opts.stopUnlistedDaemons) changes = changes.filter((c) => c.kind !== "daemon-removed");
  // In this order: what goes away first, then edits, then what is new.
  const phase: Record<"removeDests" | "removeServices" | "editServices" | "addServices" | "editDests" | "addDests" | "timeouts" | "stopDaemons" | "startDaemons", ApplyStep[]> = {
    removeDests: [],
    removeServices: [],
    editServices: [],
    addServices: [],
    editDests: [],
    addDests: [],
    timeouts: [],
    stopDaemons: [],
    startDaemons: [],
  };
  for (const c of changes) {
    switch (c.kind) {
      case "destination-removed":
        phase.removeDests.push({ op: "delete-dest", service: serviceOf(current, c.service)!, dest: c.before });
        break;
      case "service-removed":
        phase.removeServices.push({ op: "delete-service", before: c.before });
        break;
      case "service-changed":
        phase.editServices.push({ op: "edit-service", service: withoutDests(c.after), before: withoutDests(c.before) });
        break;
      case "service-added":
        // a new service's real servers right after it
        phase.addServices.push({ op: "add-service", service: withoutDests(c.after) });
        for (const d of c.after.destinations) phase.addServices.push({ op: "add-dest", service: withoutDests(c.after), dest: d });
        break;
      case "destination-changed":
        phase.editDests.push({ op: "edit-dest", service: serviceOf(desired, c.service)!, dest: c.after, before: c.before });
        break;
      case "destination-added":
        phase.addDests.push({ op: "add-dest", service: serviceOf(desired, c.service)!, dest: c.after });
        break;
      case "timeouts-changed": {
        const timeouts: Timeouts = {};
        const before: Timeouts = {};
        for (const f of c.fields) {
          timeouts[f.field as keyof Timeouts] = f.after as number;
          before[f.field as keyof Timeouts] = f.before as number;
        }
        phase.timeouts.push({ op: "set-timeouts", timeouts, before });
        break;
      }
      case "daemon-removed":
        phase.stopDaemons.push({ op: "stop-daemon", daemon: c.before });
        break;
      case "daemon-changed":
        // A running daemon cannot be changed, only stopped and started again.
        phase.stopDaemons.push({ op: "stop-daemon", daemon: c.before });
        phase.startDaemons.push({ op: "start-daemon", daemon: c.after });
        break;
      case "daemon-added":
        phase.startDaemons.push({ op: "start-daemon", daemon: c.after });
        break;
    }
  }
  return { changes, steps: Object.values(phase).flat() };
}

function serviceOf(t: TableState, service: Service): ServiceExtended | undefined {
  const key = serviceKey(service);
  const s = t.services.find((x) => serviceKey(x.service) === key);
  return s && withoutDests(s);
}

/** The steps that undo `step` (after it succeeded). */
export function inverseSteps(step: ApplyStep): ApplyStep[] {
  switch (step.op) {
    case "add-service":
      return [{ op: "delete-service", before: { ...step.service, destinations: [] } }];
    case "edit-service":
      return [{ op: "edit-service", service: step.before, before: step.service }];
    case "delete-service": {
      const s = withoutDests(step.before);
      return [{ op: "add-service", service: s }, ...step.before.destinations.map((dest): ApplyStep => ({ op: "add-dest", service: s, dest }))];
    }
    case "add-dest":
      return [{ op: "delete-dest", service: step.service, dest: step.dest }];
    case "edit-dest":
      return [{ op: "edit-dest", service: step.service, dest: step.before, before: step.dest }];
    case "delete-dest":
      return [{ op: "add-dest", service: step.service, dest: step.dest }];
    case "set-timeouts":
      return [{ op: "set-timeouts", timeouts: step.before, before: step.timeouts }];
    case "start-daemon":
      return [{ op: "stop-daemon", daemon: step.daemon }];
    case "stop-daemon":
      return [{ op: "start-daemon", daemon: step.daemon }];
  }
}

// ---- what the netlink client is given ----------------------------------------------------------------------

export function serviceConfig(s: ServiceExtended): ServiceConfig {
  const cfg: ServiceConfig = {
    service: s.service,
    scheduler: s.scheduler,
    persistent: s.flags.persistent,
    onePacket: s.flags.onePacket,
    sched1: s.flags.sched1,
    sched2: s.flags.sched2,
    sched3: s.flags.sched3,
    timeout: s.timeout,
  };
  if (s.persistenceEngine) cfg.persistenceEngine = s.persistenceEngine;
  return cfg;
}

export function destConfig(d: Destination): DestinationConfig {
  const cfg: DestinationConfig = destinationIdentity(d);
  if (d.forward === "tunnel" && d.tunnel) cfg.tunnel = { type: d.tunnel.type, port: d.tunnel.port, csum: d.tunnel.csum, remcsum: d.tunnel.remcsum };
  return cfg;
}

export function daemonConfig({ unknown: _u, ...d }: SyncDaemon): SyncDaemonConfig {
  return d;
}

// ---- text ----------------------------------------------------------------------------------------------

/** A step as the ipvsadm command that does the same (a plan prints as a script ipvsadm-restore would run). */
export function stepRule(step: ApplyStep): string {
  switch (step.op) {
    case "add-service":
      return serviceRule(step.service);
    case "edit-service":
      return serviceRule(step.service).replace(/^-A /, "-E ");
    case "delete-service":
      return `-D ${serviceSwitch(step.before.service)}`;
    case "add-dest":
      return destRuleWithThresholds(step.service, step.dest);
    case "edit-dest":
      return destRuleWithThresholds(step.service, step.dest).replace(/^-a /, "-e ");
    case "delete-dest": {
      const host = step.dest.family === "inet6" ? `[${step.dest.address}]:${step.dest.port}` : `${step.dest.address}:${step.dest.port}`;
      return `-d ${serviceSwitch(step.service.service)} -r ${host}`;
    }
    case "set-timeouts": {
      // --set takes all three; 0 keeps the kernel's value.
      const t = step.timeouts;
      return `--set ${t.tcp ?? 0} ${t.tcpFin ?? 0} ${t.udp ?? 0}`;
    }
    case "start-daemon": {
      const d = step.daemon;
      let line = `--start-daemon ${d.state} --mcast-interface ${d.mcastInterface} --syncid ${d.syncId}`;
      if (d.syncMaxLen !== undefined) line += ` --sync-maxlen ${d.syncMaxLen}`;
      if (d.mcastGroup !== undefined) line += ` --mcast-group ${d.mcastGroup}`;
      if (d.mcastPort !== undefined) line += ` --mcast-port ${d.mcastPort}`;
      if (d.mcastTtl !== undefined) line += ` --mcast-ttl ${d.mcastTtl}`;
      return line;
    }
    case "stop-daemon":
      return `--stop-daemon ${step.daemon.state}`;
  }
}

/** The plan for an administrator: the changes, then the commands. */
export function formatPlan(plan: ApplyPlan): string {
  if (plan.steps.length === 0) return "no changes: the kernel already has this table\n";
  const lines = [`${plan.changes.length} change${plan.changes.length === 1 ? "" : "s"}:`, ...plan.changes.map((c) => `  ${describeChange(c)}`), `${plan.steps.length} command${plan.steps.length === 1 ? "" : "s"}:`, ...plan.steps.map((s) => `  ${stepRule(s)}`)];
  return lines.join("\n") + "\n";
}
