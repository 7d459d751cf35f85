// `lvsdash rs-agent` settings: flags and environment, refused before anything starts; the step schema and
// sysctl keys as the wizard writes them.
import { describe, expect, it } from "vitest";

import { runCli } from "@/server/cli/main";
import type { CliKernel } from "@/server/cli/context";
import { parseSysctlKey } from "@/server/kernel/rsnet";
import { generateToken } from "@/server/rsagent/http";
import { parseListen, resolveSettings } from "@/server/rsagent/main";

import { captureIo } from "../cli/io";

const noKernel = {} as CliKernel;

describe("lvsdash rs-agent", () => {
  it("refuses to start without an address to listen on (exit 2, usage)", async () => {
    const io = captureIo();
    const code = await runCli(["rs-agent"], { io, kernel: noKernel });
    expect(code).toBe(2);
    expect(io.err).toMatch(/give the address to listen on: --listen/);
    expect(io.err).toMatch(/usage: lvsdash rs-agent --listen HOST\[:PORT\]/);
  });

  it("refuses --cert without --key, and a bad address", async () => {
    for (const argv of [["rs-agent", "--listen", "192.0.2.11:9443", "--cert", "c.pem"], ["rs-agent", "--listen", "192.0.2.300:9443"], ["rs-agent", "--listen", "192.0.2.11:70000"]]) {
      const io = captureIo();
      expect(await runCli(argv, { io, kernel: noKernel })).toBe(2);
    }
  });
});

describe("settings", () => {
  it("reads HOST[:PORT], port 9443 by default", () => {
    expect(parseListen("192.0.2.11:9443")).toEqual({ host: "192.0.2.11", port: 9443 });
    expect(parseListen("192.0.2.11")).toEqual({ host: "192.0.2.11", port: 9443 });
    expect(parseListen("[2001:db8::11]:8443")).toEqual({ host: "2001:db8::11", port: 8443 });
    expect(() => parseListen("192.0.2.11:9443; rm -rf /")).toThrow(/not HOST\[:PORT\]/);
  });

  it("takes flags before the environment, a token from LVSDASH_RS_TOKEN only without a token file", () => {
    const token = generateToken();
    expect(resolveSettings({}, { LVSDASH_RS_LISTEN: "192.0.2.11:9000", LVSDASH_RS_TOKEN: token })).toEqual({ host: "192.0.2.11", port: 9000, token: { value: token }, stateDir: "/var/lib/lvs-dashboard-rs" });
    expect(resolveSettings({ listen: "192.0.2.12" }, { LVSDASH_RS_LISTEN: "192.0.2.11:9000" })).toEqual({ host: "192.0.2.12", port: 9443, token: { file: "/etc/lvs-dashboard/rs-token" }, stateDir: "/var/lib/lvs-dashboard-rs" });
    expect(resolveSettings({ listen: "192.0.2.12", stateDir: "/tmp/s" }, { LVSDASH_RS_STATE_DIR: "/tmp/e" }).stateDir).toBe("/tmp/s");
    expect(resolveSettings({ listen: "192.0.2.12", tokenFile: "/tmp/t" }, { LVSDASH_RS_TOKEN: token }).token).toEqual({ file: "/tmp/t" });
    expect(() => resolveSettings({ listen: "192.0.2.12" }, { LVSDASH_RS_TOKEN: "short" })).toThrow(/32-512 characters/);
  });
});

describe("parseSysctlKey", () => {
  it.each([
    ["net.ipv4.conf.all.arp_ignore", { name: "arp_ignore", scope: "all" }],
    ["net.ipv4.conf.eth0.arp_announce", { name: "arp_announce", scope: "eth0" }],
    ["net/ipv4/conf/eth0.10/rp_filter", { name: "rp_filter", scope: "eth0.10" }],
    ["net.ipv4.conf.eth0/10.rp_filter", { name: "rp_filter", scope: "eth0.10" }],
    ["net.ipv4.ip_forward", { name: "net.ipv4.ip_forward" }],
  ])("reads %s", (key, ref) => {
    expect(parseSysctlKey(key)).toEqual(ref);
  });

  it.each(["net.ipv4.tcp_syncookies", "net.ipv4.conf.all.accept_source_route", "net.ipv4.conf.../arp_ignore", "net/ipv4/conf/../../../kernel/core_pattern", "net.ipv4.conf.-x.arp_ignore", "kernel.core_pattern"])(
    "refuses %s",
    (key) => {
      expect(parseSysctlKey(key)).toBeNull();
    },
  );
});
