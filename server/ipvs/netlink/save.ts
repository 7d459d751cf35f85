// Single rule lines for objects of the netlink model ("-A -t 192.0.2.1:80 -s wlc", "-a ... -r ... -g -w 1"), as
// `ipvsadm-save -n` writes them: the apply plan and the snapshot diff print changes this way. The lines and the
// whole-table text come from the project's one ipvsadm-save emitter, server/ipvs/rules/emit.ts: a whole
// snapshot is emitIpvsadmSave(ruleTableFromState(snapshot)).
import { serviceOption } from "@/server/ipvs/rules/model";
import { realServerRuleLine, serviceRuleLine } from "@/server/ipvs/rules/emit";
import { keyFromService, realServerOf, virtualServiceOf } from "@/server/ipvs/snapshot/rules";
import type { Destination, Service, ServiceExtended } from "./types";

/** "-t 192.0.2.1:80", "-f 42 -6": how ipvsadm names a service in a rule. */
export function serviceSwitch(s: Service): string {
  return serviceOption(keyFromService(s));
}

/** The service's -A line. */
export function serviceRule(s: ServiceExtended): string {
  return serviceRuleLine(virtualServiceOf(s));
}

/** The destination's -a line (without -x/-y, as ipvsadm-save). */
export function destRule(s: ServiceExtended, d: Destination): string {
  return realServerRuleLine(virtualServiceOf(s), realServerOf(d), false);
}
