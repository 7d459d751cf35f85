// Rules import/export, the pure parts: both formats to a validated table (with lines and notes), and export
// of a table state in both formats reading back to the same rules. The plan/apply against a kernel is in
// test/kernel/rules-io.test.ts.
import { describe, expect, it } from "vitest";

import { exportRules, loadRulesText, rulesImportInput } from "@/server/ipvs/keepalived/rules-io";
import { importKeepalived } from "@/server/ipvs/keepalived/parse";
import { emitIpvsadmSave } from "@/server/ipvs/rules/emit";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";

const loaded = async () => "loaded" as const;
const missing = async (m: string) => (m === "ip_vs_mh" ? ("missing" as const) : ("loaded" as const));

const SAVE = ["-A -t 192.0.2.100:80 -s wrr -p 300", "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1", "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2", ""].join("\n");
const KEEPALIVED = "virtual_server 192.0.2.100 80 {\n lb_algo wrr\n lb_kind DR\n persistence_timeout 300\n real_server 192.0.2.11 80 { weight 1 }\n real_server 192.0.2.12 80 {\n  weight 2\n  TCP_CHECK { connect_timeout 3 }\n }\n}\n";

describe("loadRulesText", () => {
  it("reads both formats to the same table", async () => {
    const a = await loadRulesText("ipvsadm-save", SAVE, loaded);
    const b = await loadRulesText("keepalived", KEEPALIVED, loaded);
    if (!("table" in a) || !("table" in b)) throw new Error("issues");
    expect(emitIpvsadmSave(b.table)).toBe(emitIpvsadmSave(a.table));
    expect(b.notes).toEqual([expect.stringMatching(/1 health check/)]);
  });

  it("gives issues with lines and changes nothing to decide: bad syntax, bad values, a scheduler the kernel lacks", async () => {
    await expect(loadRulesText("ipvsadm-save", "-A -t 192.0.2.100:80 -s nosuch\n", loaded)).resolves.toMatchObject({ issues: [expect.stringMatching(/nosuch/)] });
    await expect(loadRulesText("keepalived", "virtual_server 192.0.2.100 80 {\n lb_kind FULLNAT\n}\n", loaded)).resolves.toMatchObject({ issues: ["line 2: lb_kind: FULLNAT is not NAT, DR or TUN"] });
    await expect(loadRulesText("keepalived", "virtual_server 192.0.2.100 80 {\n lb_algo mh\n}\n", missing)).resolves.toMatchObject({ issues: [expect.stringMatching(/ip_vs_mh/)] });
    await expect(loadRulesText("keepalived", "virtual_server 192.0.2.100 80 {\n real_server 192.0.2.11 80 {\n  weight 1\n  uthreshold 5\n  lthreshold 9\n }\n}\n", loaded)).resolves.toMatchObject({ issues: [expect.any(String)] });
  });
});

describe("exportRules", () => {
  it("writes a table state in both formats, each reading back to the same rules", () => {
    const { table } = loadIpvsadmRules(SAVE);
    const state = tableStateFromRules(table);
    const save = exportRules(state, "ipvsadm-save");
    expect(save).toBe(SAVE);
    const conf = exportRules(state, "keepalived");
    expect(conf).toContain("virtual_server 192.0.2.100 80 {");
    expect(emitIpvsadmSave(importKeepalived(conf).table)).toBe(SAVE);
  });
});

describe("rulesImportInput", () => {
  it("plans by default, keeps unlisted services, refuses unknown keys and oversize text", () => {
    expect(rulesImportInput.parse({ format: "keepalived", text: "" })).toEqual({ format: "keepalived", text: "", keepUnlisted: true, dryRun: true });
    expect(rulesImportInput.safeParse({ format: "keepalived", text: "", path: "/etc/keepalived/keepalived.conf" }).success).toBe(false);
    expect(rulesImportInput.safeParse({ format: "nft", text: "" }).success).toBe(false);
    expect(rulesImportInput.safeParse({ format: "keepalived", text: "x".repeat(1024 * 1024 + 1) }).success).toBe(false);
  });
});
