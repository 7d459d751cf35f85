// The rule codec and the /proc readers on the rich table recorded from the real kernel
// (test/fixtures/cases/rules-rich, see its README).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseProcIpVsConn } from "@/server/ipvs/proc/conn";
import { parseProcIpVs } from "@/server/ipvs/proc/services";
import { compareRulesWithProc } from "@/server/ipvs/rules/compare";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { hostPort } from "@/server/ipvs/rules/model";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/cases/rules-rich/${name}`, import.meta.url), "utf8");
const SAVE = fixture("ipvsadm-save.txt");

describe("the rich table recorded from the real kernel", () => {
  it("ipvsadm-save -n parses and emits byte for byte", () => {
    const { table, errors } = loadIpvsadmRules(SAVE);
    expect(errors).toEqual([]);
    expect(emitIpvsadmSave(table)).toBe(SAVE);
  });

  it("the rules file builds the table the kernel built", () => {
    const { table, errors } = loadIpvsadmRules(fixture("rules.txt"));
    expect(errors).toEqual([]);
    expect(emitIpvsadmSave(table)).toBe(SAVE);
    expect(table.services).toHaveLength(25);
  });

  it("/proc/net/ip_vs agrees with the rules", () => {
    const proc = parseProcIpVs(fixture("proc.ip_vs.txt"));
    const { table } = loadIpvsadmRules(fixture("rules.txt"));
    expect(compareRulesWithProc(table, proc)).toEqual([]);
    expect(proc.services.find((s) => s.protocol === "FWM" && s.fwmark === 2)).toMatchObject({
      family: 6,
      persistent: { timeout: 300, netmask: "96" },
      flags: "persistent 300 mask 96",
    });
  });

  it("/proc/net/ip_vs reads as ipvsadm -Ln shows it, where /proc has the information", () => {
    const proc = parseProcIpVs(fixture("proc.ip_vs.txt"));
    const ln = fixture("ipvsadm-Ln.txt").split("\n");
    for (const s of proc.services) {
      const name = s.protocol === "FWM" ? `FWM  ${s.fwmark}${s.family === 6 ? " IPv6" : ""}` : `${s.protocol.padEnd(4)} ${hostPort(s.family ?? 4, s.address, s.port)}`;
      const line = ln.find((l) => l.startsWith(`${name} `));
      expect(line, name).toBeDefined();
      // /proc has no scheduler flags, engine, nor ops for IPv6: compare what it has.
      const shown = (line ?? "")
        .replace(/ \([a-z0-9,-]+\)/, "")
        .replace(/ pe \w+/, "")
        .replace(s.family === 6 ? / ops$/ : /$^/, "");
      expect(`${name} ${s.scheduler}${s.flags ? ` ${s.flags}` : ""}`).toBe(shown);
      for (const r of s.realServers) {
        const row = ln.find((l) => l.startsWith(`  -> ${hostPort(r.family, r.address, r.port)} `));
        expect(row?.trim().split(/\s+/).slice(2)).toEqual([r.forward, String(r.weight), String(r.activeConns), String(r.inactiveConns)]);
      }
    }
  });

  it("ip_vs_conn and ip_vs_conn_sync decode to what ipvsadm -Lnc showed", () => {
    const conn = parseProcIpVsConn(fixture("proc.ip_vs_conn.txt"));
    expect(conn.malformed).toBe(0);
    const lnc = fixture("ipvsadm-Lnc.txt")
      .split("\n")
      .slice(2)
      .filter(Boolean)
      .map((l) => l.trim().split(/\s+/))
      .map(([pro, , state, source, virtual, dest]) => `${pro} ${state} ${source} ${virtual} ${dest}`);
    const ours = conn.entries.map(
      (e) =>
        `${e.protocol} ${e.state} ${hostPort(e.family, e.clientAddress, e.clientPort)} ${hostPort(e.family, e.virtualAddress, e.virtualPort)} ${hostPort(e.destFamily, e.destAddress, e.destPort)}`,
    );
    expect(ours).toEqual(lnc);
    expect(conn.entries.filter((e) => e.template).map((e) => [e.protocol, e.clientAddress, e.virtualAddress, e.state])).toEqual([
      ["TCP", "192.0.2.1", "192.0.2.1", "ASSURED"],
      ["IP", "192.0.2.1", "0.0.0.5", "NONE"],
      ["TCP", "2001:db8::", "2001:db8::1", "NONE"],
    ]);
    const sync = parseProcIpVsConn(fixture("proc.ip_vs_conn_sync.txt"), "ip_vs_conn_sync");
    expect(sync.malformed).toBe(0);
    expect(sync.entries.map((e) => [e.protocol, e.clientPort, e.state, e.origin])).toEqual(
      conn.entries.map((e) => [e.protocol, e.clientPort, e.state, "LOCAL"]),
    );
  });
});
