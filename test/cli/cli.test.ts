// lvsdash over recorded kernel replies (test/fixtures/netlink/table.json, replayed through the real transport
// code) and recorded /proc files: the output byte for byte against what ipvsadm printed for the same kernel
// table, the exit codes, the errors an admin sees.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runCli } from "@/server/cli/main";
import type { CliKernel } from "@/server/cli/context";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import { GenlError, fakeGenlTransport } from "@/server/kernel/genl/transport";
import { loadFixture, oracle, replayTransport } from "../ipvs/netlink/helpers";
import { fakeKernel, recordedTableClient, state } from "../ipvs/snapshot/helpers";
import { captureIo } from "./io";

const table = loadFixture("table");
const fixture = (p: string) => readFileSync(new URL(`../fixtures/${p}`, import.meta.url));

function kernel(over: Partial<CliKernel> = {}): CliKernel {
  return {
    openClient: async () => recordedTableClient().client,
    probeModule: async () => "loadable",
    connTable: () => [fixture("cases/rules-rich/proc.ip_vs_conn.txt")] as unknown as AsyncIterable<Uint8Array>,
    now: () => 0,
    ...over,
  };
}

async function cli(argv: string[], k: CliKernel = kernel(), files: Record<string, string> = {}, stdin = "") {
  const io = captureIo(files, stdin);
  const code = await runCli(argv, { io, kernel: k });
  return { code, out: io.out, err: io.err };
}

describe("lvsdash status / save (recorded kernel replies vs ipvsadm's output for the same table)", () => {
  it("status --exact prints what ipvsadm -Ln --stats --exact printed", async () => {
    expect(await cli(["status", "--exact"])).toEqual({ code: 0, out: oracle(table, "ipvsadm -Ln --stats --exact"), err: "" });
  });

  it("status --rate --exact prints what ipvsadm -Ln --rate --exact printed", async () => {
    // ipvsadm printed a moment after the replies were recorded: the estimator had moved InBPS from 73 to 97
    const printed = oracle(table, "ipvsadm -Ln --rate --exact").replaceAll("       97        0\n", "       73        0\n");
    expect((await cli(["status", "--rate", "--exact"])).out).toBe(printed);
  });

  it("save prints what ipvsadm-save -n printed", async () => {
    expect((await cli(["save"])).out).toBe(oracle(table, "ipvsadm-save -n"));
    expect((await cli(["save", "--thresholds"])).out).toContain("-a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 0 -x 100 -y 10\n");
  });

  it("status --json is the whole snapshot, counters as strings", async () => {
    const { code, out } = await cli(["status", "--json"]);
    expect(code).toBe(0);
    const j = JSON.parse(out);
    expect(Object.keys(j).sort()).toEqual(["daemons", "info", "services", "takenAt", "timeouts"]);
    expect(j.services[2].stats.inBytes).toBe("1840");
    expect(j.timeouts).toEqual({ tcp: 900, tcpFin: 120, udp: 300 });
  });
});

describe("status layout against the DR case recorded in the lab (ipvsadm -Ln --stats / --rate, not exact)", () => {
  const statsText = fixture("cases/dr/dr-healthy.ipvsadm-stats.txt").toString();
  const rateText = fixture("cases/dr/dr-healthy.ipvsadm-rate.txt").toString();
  // the numbers of those files, put into a kernel that answers with them
  const s = (c: number[], r: number[]) => ({ conns: BigInt(c[0]!), inPkts: BigInt(c[1]!), outPkts: BigInt(c[2]!), inBytes: BigInt(c[3]!), outBytes: BigInt(c[4]!), cps: BigInt(r[0]!), inPps: BigInt(r[1]!), outPps: BigInt(r[2]!), inBps: BigInt(r[3]!), outBps: BigInt(r[4]!), width: 64 as const });
  const dr = () => {
    const t = state("-A -t 192.0.2.100:80 -s wrr\n-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1\n-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2\n");
    const svc = t.services[0]!;
    svc.stats = s([30, 165, 0, 10500, 0], [2, 10, 0, 662, 0]);
    svc.destinations[0]!.stats = s([10, 56, 0, 3552, 0], [1, 4, 0, 223, 0]);
    svc.destinations[1]!.stats = s([20, 109, 0, 6948, 0], [1, 7, 0, 440, 0]);
    return { ...t, timeouts: { tcp: 900, tcpFin: 120, udp: 300 } };
  };
  const k = () => kernel({ openClient: async () => new IpvsClient(fakeKernel(dr).transport) });

  it("prints ipvsadm -Ln --stats", async () => {
    expect((await cli(["status"], k())).out).toBe(statsText);
  });

  it("prints ipvsadm -Ln --rate", async () => {
    expect((await cli(["status", "--rate"], k())).out).toBe(rateText);
  });

  it("abbreviates large numbers as ipvsadm does (K M G T), and --exact widens the column", async () => {
    const big = () => {
      const t = dr();
      t.services[0]!.stats = s([99_999_999, 100_000_000, 123_456_789_012, 99_999_999_999_999, 2 ** 53], [0, 0, 0, 0, 0]);
      return t;
    };
    const kb = kernel({ openClient: async () => new IpvsClient(fakeKernel(big).transport) });
    const name = "TCP  192.0.2.100:80".padEnd(33);
    expect((await cli(["status"], kb)).out.split("\n")[3]).toBe(`${name} 99999999  100000K     123G   99999G    9007T`);
    expect((await cli(["status", "--exact"], kb)).out.split("\n")[3]).toBe(`${name} 99999999 100000000 123456789012 99999999999999 9007199254740992`);
  });
});

describe("lvsdash conns (recorded /proc/net/ip_vs_conn vs ipvsadm -Lnc of the same moment)", () => {
  // the two were read a moment apart: the expiry column may differ by a second
  const noExpiry = (text: string) => text.split("\n").map((l) => l.slice(0, 4) + l.slice(11));

  it("lists like ipvsadm -Lnc (templates included)", async () => {
    for (const c of ["cases/rules-rich", "cases/dr/dr-healthy."]) {
      const proc = fixture(c.endsWith(".") ? `${c}proc.ip_vs_conn.txt` : `${c}/proc.ip_vs_conn.txt`);
      const lnc = fixture(c.endsWith(".") ? `${c}ipvsadm-Lnc.txt` : `${c}/ipvsadm-Lnc.txt`).toString();
      const { code, out } = await cli(["conns"], kernel({ connTable: () => [proc.subarray(0, 100), proc.subarray(100)] as unknown as AsyncIterable<Uint8Array> }));
      expect(code).toBe(0);
      expect(noExpiry(out)).toEqual(noExpiry(lnc));
    }
  });

  it("filters, limits, and prints JSON lines", async () => {
    const { out } = await cli(["conns", "--filter", "proto=TCP,templates=exclude", "--filter", "vip=192.0.2.1:8080"]);
    expect(out.split("\n").slice(2).filter(Boolean)).toEqual(["TCP 01:58  TIME_WAIT   192.0.2.1:45936    192.0.2.1:8080     192.0.2.1:8081"]);
    expect((await cli(["conns", "--limit", "2"])).out.split("\n").filter(Boolean).length).toBe(4);
    const json = (await cli(["conns", "--json", "--filter", "state=UDP"])).out.trim().split("\n").map((l) => JSON.parse(l));
    expect(json.map((e) => [e.protocol, e.clientAddress, e.virtualPort])).toEqual([["UDP", "2001:db8::1", 5353], ["UDP", "192.0.2.1", 5353]]);
  });

  it("summarizes", async () => {
    const { code, out } = await cli(["conns", "--summary"]);
    expect(code).toBe(0);
    expect(out.split("\n").slice(0, 3)).toEqual([
      "5 connections matched of 8 entries (3 persistence templates, 0 unreadable lines), read in 0.00 s",
      "by state: CLOSE 2, UDP 2, TIME_WAIT 1",
      "by protocol: TCP 3, UDP 2",
    ]);
    const j = JSON.parse((await cli(["conns", "--summary", "--json", "--filter", "client=192.0.2.0/24"])).out);
    expect([j.matched, j.entries]).toEqual([3, 8]);
  });

  it("refuses a bad filter with the usage", async () => {
    const r = await cli(["conns", "--filter", "colour=blue"]);
    expect([r.code, r.err.split("\n")[0]]).toEqual([2, 'lvsdash conns: --filter: unknown key "colour" (proto, vip, rs, client, state, templates)']);
    expect((await cli(["conns", "--filter", "client=192.0.2.0/33"])).err).toMatch(/^lvsdash conns: --filter: client range: prefix length "33" is not 0\.\.32\n/);
  });

  it("says how to load IPVS when /proc/net/ip_vs_conn is missing", async () => {
    const missing = () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(Object.assign(new Error("ENOENT: no such file or directory, open '/proc/net/ip_vs_conn'"), { code: "ENOENT" })) }),
    });
    expect(await cli(["conns"], kernel({ connTable: missing }))).toEqual({ code: 3, out: "", err: "lvsdash conns: IPVS is not loaded in this kernel: modprobe ip_vs\n" });
  });
});

describe("lvsdash restore (fake kernel)", () => {
  const BEFORE = "-A -t 192.0.2.1:80 -s wlc\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 1\n";
  const k = (write?: (name: string, n: number) => number | undefined) => {
    const fk = fakeKernel(() => ({ ...state(BEFORE), timeouts: { tcp: 900, tcpFin: 120, udp: 300 } }), write);
    return { fk, kernel: kernel({ openClient: async () => new IpvsClient(fk.transport) }) };
  };

  it("--dry-run prints the plan and changes nothing", async () => {
    const { fk, kernel: kk } = k();
    const r = await cli(["restore", "--dry-run", "new.rules"], kk, { "new.rules": "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 3\n" });
    expect(r).toEqual({
      code: 0,
      out: "2 changes:\n  ~ service TCP 192.0.2.1:80: scheduler wlc -> rr\n  ~ real server 192.0.2.11:80 in TCP 192.0.2.1:80: weight 1 -> 3\n2 commands:\n  -E -t 192.0.2.1:80 -s rr\n  -e -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 3\n",
      err: "",
    });
    expect(fk.writes()).toEqual([]);
  });

  it("applies from stdin and reports", async () => {
    const { fk, kernel: kk } = k();
    const r = await cli(["restore", "-"], kk, {}, "-A -t 192.0.2.1:80 -s rr\n");
    expect([r.code, r.out.split("\n").slice(-2)]).toEqual([0, ["applied: 2 commands done", ""]]);
    expect(fk.writes()).toEqual(["DEL_DEST", "SET_SERVICE"]);
  });

  it("a refused command: rolled back, exit 1", async () => {
    const { fk, kernel: kk } = k((_name, n) => (n === 2 ? 22 : undefined));
    const r = await cli(["restore", "-"], kk, {}, "-A -t 192.0.2.1:80 -s rr\n");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^lvsdash restore: failed at: -E -t 192\.0\.2\.1:80 -s rr\n  the kernel rejected IPVS_CMD_SET_SERVICE as invalid/);
    expect(r.err).toMatch(/rolled back 1 command of 1 done\nthe table is as it was before \(checked\)\n$/);
    expect(fk.writes()).toEqual(["DEL_DEST", "SET_SERVICE", "NEW_DEST"]);
  });

  it("a bad file: every problem with its line, exit 2, the kernel not even opened", async () => {
    let opened = false;
    const r = await cli(["restore", "bad.rules"], kernel({ openClient: async () => ((opened = true), recordedTableClient().client), probeModule: async (m) => (m === "ip_vs_twos" ? "missing" : "loaded") }), {
      "bad.rules": "-A -t 192.0.2.1:80 -s twos\n-a -t 192.0.2.1:80 -r 192.0.2.11:80 -g -w 70000000000\n",
    });
    expect(r).toEqual({
      code: 2,
      out: "",
      err:
        "lvsdash restore: bad.rules: nothing changed: 2 problems:\n" +
        '  line 1 (-s): -t 192.0.2.1:80: scheduler "twos": this kernel has no module ip_vs_twos (not loaded, not built in, not in /lib/modules)\n' +
        "  line 2, column 43 (-w): weight 70000000000 is out of range (0..2147483647)\n",
    });
    expect(opened).toBe(false);
  });

  it("needs exactly one file", async () => {
    expect((await cli(["restore"])).err.split("\n")[0]).toBe("lvsdash restore: which rules file? (- for stdin)");
    expect((await cli(["restore"])).code).toBe(2);
    expect((await cli(["restore", "missing.rules"])).err).toBe("lvsdash restore: ENOENT: no such file or directory, open 'missing.rules'\n");
  });
});

describe("lvsdash: commands, help, errors", () => {
  it("prints the command list, with an exit code by how it was asked", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: lvsdash <command> \[options\]/);
    expect(help.out).toMatch(/\n {2}status +the virtual service table/);
    const none = await cli([]);
    expect([none.code, none.out, none.err === help.out]).toEqual([2, "", true]);
    expect((await cli(["status", "--help"])).out).toMatch(/^usage: lvsdash status \[--json\] \[--exact\] \[--rate\]/);
    expect((await cli(["help", "conns"])).out).toMatch(/^usage: lvsdash conns/);
  });

  it("refuses unknown commands and options", async () => {
    const r = await cli(["statsu"]);
    expect([r.code, r.err.split("\n")[0]]).toEqual([2, 'lvsdash: unknown command "statsu"']);
    const o = await cli(["status", "--exakt"]);
    expect([o.code, o.err.split("\n")[0]]).toEqual([2, "lvsdash status: Unknown option '--exakt'"]);
    expect(await cli(["__proto__"])).toMatchObject({ code: 2 });
  });

  it("IPVS not loaded: exit 3 and the modprobe to run", async () => {
    const t = fakeGenlTransport(() => {
      throw new GenlError("family-missing", 'generic netlink family "IPVS" is not registered in this kernel');
    });
    expect(await cli(["status"], kernel({ openClient: async () => new IpvsClient(t) }))).toEqual({ code: 3, out: "", err: "lvsdash status: IPVS is not loaded in this kernel: modprobe ip_vs\n" });
  });

  it("not root: exit 4 (a recorded EPERM from the kernel)", async () => {
    const { transport } = replayTransport(loadFixture("eperm").exchanges);
    expect(await cli(["status"], kernel({ openClient: async () => new IpvsClient(transport) }))).toEqual({ code: 4, out: "", err: "lvsdash status: permission denied: run as root or grant CAP_NET_ADMIN\n" });
  });
});
