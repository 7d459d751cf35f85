// The snapshot model over replies recorded from Linux 6.1 (test/fixtures/netlink/table.json, replayed through
// the real transport code), its JSON form, and its conversions to and from the rules model.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import { diffSnapshots } from "@/server/ipvs/snapshot/diff";
import { SnapshotJsonError, snapshotFromJson, snapshotToJson, type SnapshotJson } from "@/server/ipvs/snapshot/json";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";
import { ipvsadmSaveText, ruleTableFromState, tableStateFromRules } from "@/server/ipvs/snapshot/rules";
import { loadFixture, oracle } from "../netlink/helpers";
import { recordedSnapshot } from "./helpers";

const table = loadFixture("table");
const RICH = readFileSync(new URL("../../fixtures/cases/rules-rich/rules.txt", import.meta.url), "utf8");

describe("readSnapshot (recorded kernel replies)", () => {
  it("reads info, timeouts, services with real servers in ipvsadm's order, and daemons", async () => {
    const snap = await recordedSnapshot();
    expect(snap.takenAt).toBe(1_700_000_000_000);
    expect(snap.info).toEqual({ versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 });
    expect(snap.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    expect(snap.daemons.map((d) => [d.state, d.mcastInterface, d.syncId])).toEqual([["master", "v0", 5], ["backup", "v1", 6]]);
    expect(ipvsadmSaveText(snap.services)).toBe(oracle(table, "ipvsadm-save -n"));
    const udp = snap.services.find((s) => "protocol" in s.service && s.service.protocol === "udp")!;
    expect(udp.stats).toMatchObject({ conns: 20n, inPkts: 20n, inBytes: 1840n, width: 64 });
  });

  it("becomes a rule table that emits what ipvsadm-save printed (local forwarding as -g)", async () => {
    const snap = await recordedSnapshot();
    expect(emitIpvsadmSave(ruleTableFromState(snap))).toBe(oracle(table, "ipvsadm-save -n"));
    expect(ruleTableFromState(snap).timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
    // and the thresholds ipvsadm-save loses are kept
    expect(emitIpvsadmSave(ruleTableFromState(snap), { thresholds: true })).toContain("-a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 0 -x 100 -y 10\n");
  });

  it("compares with the rules that made it, in one vocabulary", async () => {
    const snap = await recordedSnapshot();
    const { table: rules, errors } = loadIpvsadmRules(table.setup);
    expect(errors).toEqual([]);
    // the setup made the 127.0.0.1 "local" real server and the daemons through netlink, not through rules
    expect(diffSnapshots(snap, tableStateFromRules(rules)).map((c) => c.kind)).toEqual(["destination-removed", "daemon-removed", "daemon-removed"]);
  });
});

describe("snapshot JSON", () => {
  it("round-trips exactly, counters as decimal strings", async () => {
    const snap = await recordedSnapshot();
    snap.services[0]!.stats!.inBytes = 2n ** 64n - 1n;
    const json = JSON.parse(JSON.stringify(snapshotToJson(snap))) as SnapshotJson;
    expect(json.services[0]!.stats!.inBytes).toBe("18446744073709551615");
    expect(json.services[0]!.stats!.width).toBe(64);
    expect(snapshotFromJson(json)).toEqual(snap);
  });

  it("keeps unknown attributes as hex", () => {
    const snap: DirectorSnapshot = { takenAt: 0, info: { versionCode: 1, version: "0.0.1", connTableSize: 1 }, timeouts: {}, daemons: [{ state: "master", mcastInterface: "eth0", syncId: 1, unknown: [{ type: 99, nested: false, value: new Uint8Array([1, 254]) }] }], services: [] };
    const json = snapshotToJson(snap);
    expect(json.daemons[0]!.unknown).toEqual([{ type: 99, nested: false, value: "01fe" }]);
    expect(snapshotFromJson(json)).toEqual(snap);
  });

  it("refuses a counter that is not a decimal string", async () => {
    const json = snapshotToJson(await recordedSnapshot());
    (json.services[0]!.stats as { conns: unknown }).conns = 12;
    expect(() => snapshotFromJson(json)).toThrow(SnapshotJsonError);
    expect(() => snapshotFromJson(json)).toThrow("services[0].stats.conns: expected a decimal string, got 12");
  });
});

describe("rules <-> table state", () => {
  it("a rich rules file survives the round trip, thresholds included", () => {
    const { table: rules, errors } = loadIpvsadmRules(RICH);
    expect(errors).toEqual([]);
    const back = ruleTableFromState(tableStateFromRules(rules));
    expect(emitIpvsadmSave(back)).toBe(emitIpvsadmSave(rules));
    expect(emitIpvsadmSave(back, { thresholds: true })).toBe(emitIpvsadmSave(rules, { thresholds: true }));
    expect(back.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });

  it("prints the rich table through the netlink model as the rules model prints it (one emitter, both ways in)", () => {
    const { table: rules } = loadIpvsadmRules(RICH);
    expect(ipvsadmSaveText(tableStateFromRules(rules).services)).toBe(emitIpvsadmSave(rules));
  });

  it("maps timeouts left at 0 to 'keep the kernel's'", () => {
    expect(tableStateFromRules(loadIpvsadmRules("--set 0 60 0\n").table).timeouts).toEqual({ tcpFin: 60 });
    expect(tableStateFromRules(loadIpvsadmRules("-C\n").table).timeouts).toEqual({});
  });
});
