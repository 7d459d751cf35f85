// The native dump engine (native/genl, server/kernel/genl/native.ts) against the real kernel (lab guest only:
// `.lab/lab test test/kernel/ipvs-native.test.ts`). The oracle is ipvsadm on the same table: a few hundred
// services of every kind, loaded with ipvsadm-restore, read through the engine, must print as ipvsadm-save and
// list as ipvsadm -Ln; the same snapshot through the `netlink` package's sockets must be identical. Then the
// kernel's errors: a command the family does not have (EOPNOTSUPP), and a process without CAP_NET_ADMIN (EPERM).
import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { IPVS_CMD } from "@/server/ipvs/netlink/constants";
import { readIpvsSnapshotData } from "@/server/ipvs/snapshot/agent";
import { ipvsadmSaveText } from "@/server/ipvs/snapshot/rules";
import type { ServiceWithDestinations } from "@/server/ipvs/netlink/types";
import { openIpvsSnapshotClient, openIpvsTransport, SNAPSHOT_TRANSPORT } from "@/server/kernel/genl/ipvs";
import { NativeGenlTransport, loadNativeGenl } from "@/server/kernel/genl/native";
import { GenlError, runDumps } from "@/server/kernel/genl/transport";

const sh = (script: string, input?: string): string => execFileSync("sh", ["-c", script], { encoding: "utf8", input, maxBuffer: 64 << 20 });
const json = (t: ServiceWithDestinations[]) => JSON.stringify(t, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));

/** 420 services: TCP, UDP, SCTP, IPv6 and fwmark, schedulers and flags varied, 0 to 6 real servers each with
 *  every forwarding method (a service with none tests an empty dump; one with 6 tunnels several attributes). */
function table(): string {
  const scheds = ["rr", "wrr", "lc", "wlc", "sh -b sh-port", "sed", "nq", "mh"];
  const fwd = ["-g", "-m", "-i", "-i --tun-type gue --tun-port 6080"];
  const lines: string[] = [];
  for (let i = 0; i < 420; i++) {
    const kind = i % 5;
    const svc =
      kind === 0 ? `-t 203.0.113.${1 + (i % 250)}:${1000 + i}`
      : kind === 1 ? `-u 203.0.113.${1 + (i % 250)}:${1000 + i}`
      : kind === 2 ? `--sctp-service 198.51.100.${1 + (i % 250)}:${1000 + i}`
      : kind === 3 ? `-t [2001:db8::${(i + 1).toString(16)}]:${1000 + i}`
      : `-f ${i + 1}`;
    const v6 = kind === 3;
    lines.push(`-A ${svc} -s ${scheds[i % scheds.length]}${i % 7 === 0 ? " -p 300" : ""}`);
    for (let d = 0; d < i % 7; d++) {
      const rs = v6 ? `[2001:db8:1::${(d + 2).toString(16)}]` : `192.0.2.${2 + d}`;
      const port = kind === 4 ? "" : ":80";
      lines.push(`-a ${svc} -r ${rs}${port} ${v6 && fwd[(i + d) % 4]!.startsWith("-i --tun") ? "-m" : fwd[(i + d) % 4]} -w ${(i * 7 + d) % 100} -x ${d * 10} -y ${d * 5}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

const loaded = loadNativeGenl();

describe("native dump engine vs ipvsadm, real kernel", () => {
  beforeAll(() => {
    if (!loaded.ok) throw new Error(`the native engine is not built in this tree (${loaded.reason}): run scripts/build-native.sh before the lab suite`);
    sh("ip link set lo up; ipvsadm -C");
    sh("ipvsadm-restore", table());
  });
  afterAll(() => {
    sh("ipvsadm -C");
  });

  it("is what the agent's snapshot transport uses", () => {
    expect(SNAPSHOT_TRANSPORT.native).toBeDefined();
    const t = openIpvsTransport(SNAPSHOT_TRANSPORT);
    try {
      expect(t).toBeInstanceOf(NativeGenlTransport);
    } finally {
      t.close();
    }
  });

  it("reads 420 services as ipvsadm-save and ipvsadm -Ln print them, and as the netlink package's sockets do", async () => {
    const native = new IpvsClient(openIpvsTransport({ native: { sockets: 4, chunk: 100 } }));
    const sockets = new IpvsClient(openIpvsTransport({ sockets: 16 }));
    try {
      const snap = await native.snapshot();
      expect(snap.length).toBe(420);
      expect(ipvsadmSaveText(snap)).toBe(sh("ipvsadm-save -n"));
      // ipvsadm -Ln --nosort (the kernel's order): the same services and real servers, with the same weights
      const listed = sh("ipvsadm -Ln --nosort").split("\n").filter((l) => /^(TCP|UDP|SCTP|FWM)\s|^\s+->\s+\S+\s+\S+\s+\d+/.test(l));
      const rows = listed.map((l) => l.trim().split(/\s+/));
      const mine = snap.flatMap((s) => [["svc", s.destinations.length], ...s.destinations.map((d) => ["rs", d.weight])]);
      const theirs: (string | number)[][] = [];
      for (const r of rows) {
        if (r[0] === "->") theirs.push(["rs", Number(r[3])]);
        else theirs.push(["svc", 0]);
      }
      for (let i = 0, cur = -1; i < theirs.length; i++) {
        if (theirs[i]![0] === "svc") cur = i;
        else (theirs[cur]![1] as number)++;
      }
      expect(mine).toEqual(theirs);
      expect(snap.reduce((n, s) => n + s.destinations.length, 0)).toBe(rows.filter((r) => r[0] === "->").length);
      // byte for byte what the `netlink` package's transport decodes (no traffic: the counters stay still)
      expect(json(snap)).toBe(json(await sockets.snapshot()));
      // and again, reusing the engine's sockets
      expect(json(await native.snapshot())).toBe(json(snap));
      // the agent's ipvs.snapshot, over the process's shared snapshot transport (the native engine)
      const data = await readIpvsSnapshotData(openIpvsSnapshotClient);
      if (!data.available) throw new Error(data.reason);
      expect(ipvsadmSaveText(data.snapshot.services)).toBe(sh("ipvsadm-save -n"));
    } finally {
      native.close();
      sockets.close();
    }
  });

  it("rejects a command the family does not have with the kernel's errno, and works again afterwards", async () => {
    const t = openIpvsTransport({ native: { sockets: 4 } });
    const client = new IpvsClient(t);
    try {
      const requests = Array.from({ length: 50 }, () => new Uint8Array());
      const e = await runDumps(t, 250, requests, () => undefined).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(GenlError);
      expect(e).toMatchObject({ kind: "errno", code: "EOPNOTSUPP", cmd: 250 });
      const one = await t.request(250, new Uint8Array(), { dump: true }).catch((x: unknown) => x);
      expect(one).toMatchObject({ kind: "errno", code: "EOPNOTSUPP" });
      expect((await client.snapshot()).length).toBe(420);
      // the GET_DEST of a service that is gone: an empty dump, not an error
      expect(await t.request(IPVS_CMD.GET_DEST.id, new Uint8Array(), { dump: true })).toEqual([]);
    } finally {
      client.close();
    }
  });

  it("says permission denied in a process without CAP_NET_ADMIN", () => {
    const child = fileURLToPath(new URL("./ipvs-native.child.ts", import.meta.url));
    const r = spawnSync("setpriv", ["--bounding-set", "-net_admin", "--inh-caps", "-net_admin", process.execPath, "--import", "tsx", child], {
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/unavailable|failed to open/); // the child used the native engine
    // the IpvsError the agent's routers see for it
    expect(r.stdout.trim()).toBe("permission EPERM");
  }, 150_000);
});
