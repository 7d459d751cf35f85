// Micro-benchmark (not part of the test suite): decode a synthetic 1,000,000-packet capture of an LVS-DR
// site — ARP and VIP TCP traffic from many clients — and compare with tcpdump and tshark on the same file,
// in the same run:
//
//   npx tsx test/capture/bench/decode-bench.ts [--packets N] [--file PATH] [--keep]
//
// Prints packets/s for our reader + decoders ("decode"), the same making a sub-array per layer
// ("decode+views", what a view-returning API would cost), and the whole analysis ("analyze": decoders +
// ARP checks), the wall time and peak RSS of each (every measurement in its own process, under
// /usr/bin/time when present), and our speed as a multiple of `tcpdump -S -nn -r F > /dev/null` and
// `tshark -r F -q -z expert`. Both tools do more per packet than we do (they print, or dissect every
// layer); the ratio says what a check costs here, not who is "faster".

import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { view } from "@/server/capture/decode/bytes";
import { L_IPV4, L_TCP, decodePacket, newDecodedPacket } from "@/server/capture/decode/packet";
import { readPcap } from "@/server/capture/pcapfile/reader";
import { PcapWriter } from "@/server/capture/pcapfile/writer";
import { analyzePcap } from "@/server/diagnostics/analyze";
import type { SiteContext } from "@/server/diagnostics/types";

const SITE: SiteContext = {
  vips: [{ address: "192.0.2.100", mode: "dr" }],
  directors: [{ ip: "192.0.2.1", mac: "02:00:00:00:00:01" }],
  realServers: [
    { ip: "192.0.2.11", mac: "02:00:00:00:00:11" },
    { ip: "192.0.2.12", mac: "02:00:00:00:00:12" },
  ],
};

// ---------------------------------------------------------------------------------------------------------
// 1. The synthetic capture.

const ROUTER = [0x02, 0, 0, 0, 0, 0xfe];
const DIRECTOR = [0x02, 0, 0, 0, 0, 0x01];
const RS = [
  [0x02, 0, 0, 0, 0, 0x11],
  [0x02, 0, 0, 0, 0, 0x12],
];
const VIP = [192, 0, 2, 100];

function ethernet(b: Uint8Array, dst: number[], src: number[], type: number): void {
  b.set(dst, 0);
  b.set(src, 6);
  b[12] = type >> 8;
  b[13] = type & 255;
}

function arp(op: number, sha: number[], spa: number[], tha: number[], tpa: number[]): Uint8Array {
  const b = new Uint8Array(42);
  ethernet(b, op === 1 ? [255, 255, 255, 255, 255, 255] : tha, sha, 0x0806);
  b.set([0, 1, 8, 0, 6, 4, 0, op], 14);
  b.set(sha, 22);
  b.set(spa, 28);
  b.set(tha, 32);
  b.set(tpa, 38);
  return b;
}

/** A TCP segment client <-> VIP:80 with `payload` bytes and the TS option (as Linux sends). */
function tcp(dst: number[], src: number[], client: number[], port: number, toVip: boolean, flags: number, seq: number, payload: number): Uint8Array {
  const optLen = flags & 0x02 ? 20 : 12;
  const ipLen = 20 + 20 + optLen + payload;
  const b = new Uint8Array(14 + ipLen);
  ethernet(b, dst, src, 0x0800);
  b.set([0x45, 0, ipLen >> 8, ipLen & 255, 0, 0, 0x40, 0, 64, 6, 0, 0], 14);
  b.set(toVip ? client : VIP, 26);
  b.set(toVip ? VIP : client, 30);
  const t = 34;
  const [sp, dp] = toVip ? [port, 80] : [80, port];
  b.set([sp >> 8, sp & 255, dp >> 8, dp & 255], t);
  new DataView(b.buffer).setUint32(t + 4, seq >>> 0);
  b[t + 12] = ((20 + optLen) / 4) << 4;
  b[t + 13] = flags;
  b.set([0xfa, 0xf0], t + 14);
  b.set(flags & 0x02 ? [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7] : [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t + 20);
  return b;
}

function generate(path: string, packets: number): void {
  const fd = openSync(path, "w");
  const w = new PcapWriter((bytes) => writeSync(fd, bytes));
  let t = 1_795_253_400 * 1e6; // µs
  let n = 0;
  const emit = (data: Uint8Array) => {
    t += 7;
    w.write({ data, tsSec: Math.floor(t / 1e6), tsNsec: (t % 1e6) * 1000 });
    n++;
  };
  let x = 12345;
  const rnd = (m: number) => ((x = (x * 1103515245 + 12345) >>> 0), x % m);
  const arpWho = (ip: number[]) => arp(1, ROUTER, [192, 0, 2, 254], [0, 0, 0, 0, 0, 0], ip);
  while (n < packets) {
    // One connection of a client from 203.0.113.0/24 or 198.51.100.0/24, seen on the LAN as DR shows it:
    // router -> director, director -> real server (same IP packet), real server -> router.
    if (rnd(40) === 0) {
      emit(arpWho(VIP));
      emit(arp(2, DIRECTOR, VIP, ROUTER, [192, 0, 2, 254]));
      if (rnd(4) === 0) emit(arp(2, RS[1]!, VIP, ROUTER, [192, 0, 2, 254])); // rs2 with arp_ignore=0, now and then
      if (rnd(2) === 0) emit(arp(1, DIRECTOR, [192, 0, 2, 1], [0, 0, 0, 0, 0, 0], [192, 0, 2, 11 + rnd(2)]));
    }
    const client = rnd(2) ? [203, 0, 113, 1 + rnd(254)] : [198, 51, 100, 1 + rnd(254)];
    const port = 1024 + rnd(60000);
    const rs = RS[rnd(3) === 0 ? 0 : 1]!;
    const seq = rnd(2 ** 31);
    const inbound = (flags: number, s: number, len: number) => {
      emit(tcp(DIRECTOR, ROUTER, client, port, true, flags, s, len));
      emit(tcp(rs, DIRECTOR, client, port, true, flags, s, len));
    };
    inbound(0x02, seq, 0);
    emit(tcp(ROUTER, rs, client, port, false, 0x12, 77, 0));
    inbound(0x10, seq + 1, 0);
    inbound(0x18, seq + 1, 60 + rnd(200));
    const segments = rnd(4);
    for (let i = 0; i < segments; i++) emit(tcp(ROUTER, rs, client, port, false, 0x10, 78 + i * 1448, 1448));
    emit(tcp(ROUTER, rs, client, port, false, 0x18, 78, 100 + rnd(400)));
    inbound(0x10, seq + 200, 0);
    inbound(0x11, seq + 200, 0);
    emit(tcp(ROUTER, rs, client, port, false, 0x11, 900, 0));
    inbound(0x10, seq + 201, 0);
  }
  w.flush();
  closeSync(fd);
}

// ---------------------------------------------------------------------------------------------------------
// 2. One measurement per process (so each peak RSS is its own).

type Mode = "decode" | "decode+views" | "analyze";

async function measure(mode: Mode, path: string): Promise<void> {
  const t0 = performance.now();
  let packets = 0;
  let findings = 0;
  if (mode !== "analyze") {
    // "decode+views" also makes the sub-arrays a decoder returning views per layer would allocate, to
    // show what the offsets-into-the-buffer design saves.
    const views = mode === "decode+views";
    const p = newDecodedPacket();
    let ok = 0;
    let viewBytes = 0;
    const { stats } = await readPcap(path, (r) => {
      if (decodePacket(r.buf, r.offset, r.offset + r.caplen, p) === 0) ok++;
      if (views) {
        viewBytes += view(r.buf, r.offset, r.offset + r.caplen).length + view(r.buf, p.eth.payloadOffset, r.offset + r.caplen).length;
        if (p.layers & L_IPV4) viewBytes += view(r.buf, p.ip4.payloadOffset, p.ip4.payloadEnd).length;
        if (p.layers & L_TCP) viewBytes += view(r.buf, p.tcp.payloadOffset, p.tcp.payloadEnd).length;
      }
    });
    packets = stats.records;
    if (ok !== packets || viewBytes < 0) throw new Error(`${packets - ok} packets did not decode`);
  } else {
    const r = await analyzePcap(path, SITE);
    packets = r.stats.packets;
    findings = r.findings.length;
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ packets, seconds, findings, maxRssKiB: process.resourceUsage().maxRSS }));
}

interface Timed {
  wall: number;
  maxRssKiB: number | null;
  stdout: string;
}

function timed(cmd: string, args: string[], stdoutToNull = false): Timed {
  const haveTime = existsSync("/usr/bin/time");
  const t0 = performance.now();
  const r = haveTime
    ? spawnSync("/usr/bin/time", ["-f", "TIME %M", cmd, ...args], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", stdoutToNull ? "ignore" : "pipe", "pipe"] })
    : spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", stdoutToNull ? "ignore" : "pipe", "pipe"] });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const rss = /TIME (\d+)/.exec(r.stderr ?? "");
  return { wall, maxRssKiB: rss ? Number(rss[1]) : null, stdout: r.stdout ?? "" };
}

function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "--measure") return measure(args[1] as Mode, args[2]!);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const packets = Number(opt("--packets") ?? 1_000_000);
  const path = opt("--file") ?? join(tmpdir(), `lvs-bench-${packets}.pcap`);
  if (!existsSync(path)) {
    const t0 = performance.now();
    generate(path, packets);
    console.log(`generated ${path}: ${(statSync(path).size / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const self = new URL(import.meta.url).pathname;
  const rows: { what: string; packets: number; inProcess?: number; wall: number; rss: number | null; note?: string }[] = [];
  for (const mode of ["decode", "decode+views", "analyze"] as const) {
    const r = timed(process.execPath, [...process.execArgv, self, "--measure", mode, path]);
    const m = JSON.parse(r.stdout.trim().split("\n").pop()!) as { packets: number; seconds: number; findings: number; maxRssKiB: number };
    rows.push({ what: `ours: ${mode}`, packets: m.packets, inProcess: m.seconds, wall: r.wall, rss: r.maxRssKiB ?? m.maxRssKiB, note: mode === "analyze" ? `${m.findings} finding(s)` : undefined });
  }
  const total = rows[0]!.packets;
  if (hasTool("tcpdump")) {
    const r = timed("tcpdump", ["-S", "-nn", "-r", path], true);
    rows.push({ what: "tcpdump -S -nn -r F > /dev/null", packets: total, wall: r.wall, rss: r.maxRssKiB });
  }
  if (hasTool("tshark")) {
    const r = timed("tshark", ["-r", path, "-q", "-z", "expert"]);
    const dup = /(\d+)\s+Sequence\s+ARP\/RARP\s+Duplicate IP address configured \(192\.0\.2\.100\)/.exec(r.stdout);
    rows.push({ what: "tshark -r F -q -z expert", packets: total, wall: r.wall, rss: r.maxRssKiB, note: dup ? `${dup[1]} duplicate-IP warnings` : undefined });
  }
  console.log(`\n${total.toLocaleString("en")} packets, ${(statSync(path).size / 2 ** 20).toFixed(1)} MiB, node ${process.version}\n`);
  const ours = rows.filter((r) => r.what.startsWith("ours"));
  const tools = rows.filter((r) => !r.what.startsWith("ours"));
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(pad("", 34) + pad("in-process", 26) + pad("whole process", 26) + "peak RSS");
  for (const r of rows) {
    const inProc = r.inProcess === undefined ? "" : `${r.inProcess.toFixed(2)} s ${fmtRate(r.packets / r.inProcess)}`;
    console.log(pad(r.what, 34) + pad(inProc, 26) + pad(`${r.wall.toFixed(2)} s ${fmtRate(r.packets / r.wall)}`, 26) + (r.rss === null ? "?" : `${(r.rss / 1024).toFixed(0)} MiB`) + (r.note ? `   ${r.note}` : ""));
  }
  console.log("");
  for (const o of ours) {
    for (const t of tools) {
      console.log(`${o.what} vs ${t.what}: ${(t.wall / o.wall).toFixed(2)}x (whole process), ${(t.wall / o.inProcess!).toFixed(2)}x (in-process)`);
    }
  }
  if (!args.includes("--keep") && opt("--file") === undefined) rmSync(path);
}

function fmtRate(pps: number): string {
  return `(${(pps / 1e6).toFixed(2)} Mpkt/s)`;
}

await main();
