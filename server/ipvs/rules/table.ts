// Runs parsed rule commands against an empty table, in order, as `ipvsadm-restore` would against an empty
// kernel table: each -A must be new, each -a must name a service defined earlier, -E/-e/-D/-d must find
// what they change. The checks and their outcomes are the kernel's (ip_vs_ctl.c: ip_vs_add_service,
// ip_vs_edit_service, ip_vs_add_dest, ip_vs_edit_dest, ...), worded for the admin.

import { type RuleTable, type ServiceKey, type VirtualService, hostPort, sameServiceKey, serviceOption } from "./model";
import { type RuleCommand, type RuleError, parseIpvsadmRules } from "./parse";

function sameServer(a: { family: 4 | 6; address: string; port: number }, b: { family: 4 | 6; address: string; port: number }) {
  return a.family === b.family && a.address === b.address && a.port === b.port;
}

/** Applies the commands in order. Commands that fail are skipped and reported, as ipvsadm -R goes on. */
export function buildRuleTable(commands: readonly RuleCommand[]): { table: RuleTable; errors: RuleError[] } {
  const table: RuleTable = { services: [], daemons: [] };
  const errors: RuleError[] = [];
  const definedAt = new Map<VirtualService, number>();
  const find = (key: ServiceKey) => table.services.find((s) => sameServiceKey(s.key, key));

  for (const c of commands) {
    const fail = (message: string) => errors.push({ line: c.line, column: 0, message });
    switch (c.op) {
      case "add-service":
      case "edit-service": {
        const existing = find(c.key);
        const { line: _line, op: _op, key, ...settings } = c;
        if (c.op === "add-service") {
          if (existing) {
            fail(`service ${serviceOption(c.key)} is already defined (line ${definedAt.get(existing)})`);
            break;
          }
          const svc: VirtualService = { key, ...settings, realServers: [] };
          table.services.push(svc);
          definedAt.set(svc, c.line);
        } else if (!existing) {
          fail(`-E: service ${serviceOption(c.key)} is not defined (add it with -A first)`);
        } else {
          // ip_vs_edit_service() replaces every setting: -E without -s falls back to wlc, without -p
          // ends persistence, as ipvsadm does.
          const { realServers } = existing;
          for (const k of Object.keys(existing) as (keyof VirtualService)[]) delete existing[k];
          Object.assign(existing, { key, ...settings, realServers });
        }
        break;
      }
      case "delete-service": {
        const existing = find(c.key);
        if (!existing) fail(`-D: service ${serviceOption(c.key)} is not defined`);
        else table.services.splice(table.services.indexOf(existing), 1);
        break;
      }
      case "add-server":
      case "edit-server": {
        const svc = find(c.key);
        if (!svc) {
          fail(`real server ${hostPort(c.server.family, c.server.address, c.server.port)} for ${serviceOption(c.key)}, a service not defined earlier (add it with -A first)`);
          break;
        }
        const i = svc.realServers.findIndex((r) => sameServer(r, c.server));
        if (c.op === "add-server" && i >= 0) {
          fail(`real server ${hostPort(c.server.family, c.server.address, c.server.port)} is already in ${serviceOption(c.key)}`);
        } else if (c.op === "edit-server" && i < 0) {
          fail(`-e: real server ${hostPort(c.server.family, c.server.address, c.server.port)} is not in ${serviceOption(c.key)}`);
        } else if (i >= 0) svc.realServers[i] = { ...c.server };
        else svc.realServers.push({ ...c.server });
        break;
      }
      case "delete-server": {
        const svc = find(c.key);
        const i = svc ? svc.realServers.findIndex((r) => sameServer(r, c)) : -1;
        if (!svc) fail(`-d: service ${serviceOption(c.key)} is not defined`);
        else if (i < 0) fail(`-d: real server ${hostPort(c.family, c.address, c.port)} is not in ${serviceOption(c.key)}`);
        else svc.realServers.splice(i, 1);
        break;
      }
      case "clear":
        table.services = [];
        break;
      case "zero":
        if (c.key && !find(c.key)) fail(`-Z: service ${serviceOption(c.key)} is not defined`);
        break;
      case "set-timeouts":
        table.timeouts = { tcp: c.tcp, tcpFin: c.tcpFin, udp: c.udp };
        break;
      case "start-daemon":
        if (table.daemons.some((d) => d.state === c.daemon.state)) fail(`--start-daemon: a ${c.daemon.state} sync daemon is already running`);
        else table.daemons.push(c.daemon);
        break;
      case "stop-daemon": {
        const i = table.daemons.findIndex((d) => d.state === c.state);
        if (i < 0) fail(`--stop-daemon: no ${c.state} sync daemon is running`);
        else table.daemons.splice(i, 1);
        break;
      }
    }
  }
  return { table, errors };
}

/** Parses a rules file and builds its table; errors of both steps, in line order. */
export function loadIpvsadmRules(text: string): { table: RuleTable; errors: RuleError[] } {
  const parsed = parseIpvsadmRules(text);
  const built = buildRuleTable(parsed.commands);
  const errors = [...parsed.errors, ...built.errors].sort((a, b) => a.line - b.line || a.column - b.column);
  return { table: built.table, errors };
}

