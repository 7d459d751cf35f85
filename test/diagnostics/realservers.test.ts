// Real servers' settings as their agents report them, checked against the director's table: on the lab's
// recordings (facts read in each real server's namespace, the table as ipvsadm-save printed it), the real
// server with the fault is named, the healthy one is not.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { findingKind } from "@/server/diagnostics/analyze";
import { realServerFindings } from "@/server/diagnostics/realservers";
import type { HostFacts } from "@/server/diagnostics/sysctls";
import { parseIpvsadmRules } from "@/server/ipvs/rules/parse";
import { buildRuleTable } from "@/server/ipvs/rules/table";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";

import { root } from "../capture/tcpdump-text";

function recording(name: string) {
  const rec = JSON.parse(readFileSync(join(root, "test/fixtures/sysctls", `${name}.json`), "utf8")) as {
    fault?: { rs?: string };
    hosts: { node: string; facts: HostFacts }[];
  };
  const rules = parseIpvsadmRules(readFileSync(join(root, "test/fixtures/lab", name, "ipvsadm-save.txt"), "utf8"));
  const table = tableStateFromRules(buildRuleTable(rules.commands).table);
  const facts = (node: string) => rec.hosts.find((h) => h.node === node)!.facts;
  return { table, facts, faulty: rec.fault?.rs };
}

describe("realServerFindings", () => {
  it("names the DR real server that answers ARP for the VIP, and only it", () => {
    const { table, facts } = recording("dr-rs-arp");
    const rs2 = realServerFindings(table, facts("rs2"));
    expect(rs2.map(findingKind)).toContain("sysctl-arp-ignore");
    expect(rs2.every((f) => f.severity === "critical" && f.hosts[0]!.ip === "192.0.2.12")).toBe(true);
    expect(realServerFindings(table, facts("rs1"))).toEqual([]);
  });

  it("names the TUN real server without the VIP on tunl0", () => {
    const { table, facts, faulty } = recording("tun-tun-no-vip");
    for (const n of ["rs1", "rs2"]) {
      const found = realServerFindings(table, facts(n)).map(findingKind);
      if (n === faulty) expect(found.length, n).toBeGreaterThan(0);
      else expect(found, n).toEqual([]);
    }
  });

  it("finds nothing on healthy sites, and nothing for a host that is no real server", () => {
    for (const name of ["dr-healthy", "nat-healthy", "tun-healthy"]) {
      const { table, facts } = recording(name);
      for (const n of ["rs1", "rs2"]) expect(realServerFindings(table, facts(n)), `${name} ${n}`).toEqual([]);
      expect(realServerFindings(table, facts("dir")), `${name} dir`).toEqual([]);
    }
  });
});
