// The effective-sysctl checks of real servers that have a paired agent (server/rsagent/): their own facts, read
// in their own network namespace, against the role the director's IPVS table gives them (the VIPs whose real
// server they are, and in which mode). PURE: the facts and the table come in, findings go out.
import type { TableState } from "@/server/ipvs/snapshot/model";

import { siteContextFromTable } from "./context";
import { sysctlFindings, type HostFacts } from "./sysctls";
import type { Finding } from "./types";

/** Problems of one real server's settings; none when it is no real server of any service in `table`. */
export function realServerFindings(table: TableState, facts: HostFacts): Finding[] {
  const site = siteContextFromTable(table, { directors: [] });
  return sysctlFindings({ ...site, hostFacts: [facts] }).filter((f) => f.hosts.some((h) => h.role === "real-server"));
}
