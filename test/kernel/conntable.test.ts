// The background connection-table refresher against a real IPVS table (lab guest only), with ipvsadm -Lnc
// as the oracle.
//
// The site (bench/ipvs/conn-site.ts, shared with the benchmark): the director is the guest's own namespace
// (the reader reads the fixed path /proc/net/ip_vs_conn), clients in a namespace of their own. Two UDP
// services, filled with hping3 (it walks its source port, so each packet is a new connection; UDP entries,
// unlike SYN_RECV ones, live as long as the UDP timeout, an hour here, so the table holds still while both
// sides read it):
//   192.0.2.100:53   rr over 4 real servers           from 203.0.113.1 and .2
//   192.0.2.101:5060 persistent (-p 3600), 2 servers  from 203.0.113.3: one template + its connections
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type UdpSiteSpec, buildUdpSite, removeUdpSite, sh, udpFloodArgs } from "@/bench/ipvs/conn-site";
import { createConnTableOps } from "@/server/ipvs/conntable/ops";
import { ConnTableRefresher } from "@/server/ipvs/conntable/refresher";
import { readIpvsConnTable } from "@/server/kernel/ipvs-conn";

const DNS = { vip: "192.0.2.100", port: 53, reals: ["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"] };
const SIP = { vip: "192.0.2.101", port: 5060, reals: ["198.51.100.21", "198.51.100.22"], persistent: 3600 };
const SITE: UdpSiteSpec = { prefix: "ct", clients: 3, services: [DNS, SIP] };

/** Runs hping3 to completion: `count` packets, one every 200 us, from base port `base`. */
function flood(client: number, service: typeof DNS, base: number, count: number): Promise<void> {
  const args = udpFloodArgs(SITE, client, service, ["-s", String(base), "-c", String(count), "-i", "u200"]);
  return new Promise((resolve, reject) => {
    const p = spawn("ip", args, { stdio: "ignore" });
    p.on("error", reject);
    // hping3 exits 1 when no reply came back (none does: the real servers are a dummy device).
    p.on("exit", (code) => (code === 0 || code === 1 ? resolve() : reject(new Error(`hping3 exited ${code}`))));
  });
}

/** Counts in ipvsadm -Lnc: entries by state and by destination, templates (source port 0) apart. */
function ipvsadmCounts(): { byState: Record<string, number>; byReal: Record<string, number>; templates: number; total: number } {
  const out = sh("ipvsadm -Lnc");
  const byState: Record<string, number> = {};
  const byReal: Record<string, number> = {};
  let templates = 0;
  let total = 0;
  for (const line of out.split("\n")) {
    // pro expire state source virtual destination
    const m = /^(\S+)\s+\S+\s+(\S+)\s+(\S+):(\d+)\s+(\S+)\s+(\S+)$/.exec(line.trim());
    if (!m || m[1] === "pro") continue;
    total++;
    if (m[1] === "IP" || m[4] === "0") {
      templates++;
      continue;
    }
    byState[m[2]!] = (byState[m[2]!] ?? 0) + 1;
    byReal[m[6]!] = (byReal[m[6]!] ?? 0) + 1;
  }
  return { byState, byReal, templates, total };
}

/**
 * Starts from an empty connection table: entries of earlier tests in the same guest (a scheduler test's SYN_RECV
 * entries live 60 s, TIME_WAIT 2 min) would expire while this test compares two reads of the table. Deleting
 * services does not remove their entries; unloading IPVS does (the guest's kernel only: lab runs only).
 */
function emptyConnectionTable(): void {
  sh(`
    ipvsadm -C
    for m in $(awk '$1 ~ /^ip_vs_/ {print $1}' /proc/modules); do rmmod $m; done
    rmmod ip_vs
    modprobe ip_vs
  `);
}

beforeAll(async () => {
  emptyConnectionTable();
  expect(sh("ipvsadm -Lnc").split("\n").filter((l) => /^(TCP|UDP|IP|SCTP)\s/.test(l))).toEqual([]);
  buildUdpSite(SITE);
  await Promise.all([flood(1, DNS, 10_000, 3000), flood(2, DNS, 20_000, 2000), flood(3, SIP, 30_000, 700)]);
  await new Promise((r) => setTimeout(r, 1000));
}, 600_000);

afterAll(() => {
  removeUdpSite(SITE);
});

describe("the connection-table refresher on a real table", () => {
  it("summarizes /proc/net/ip_vs_conn read in 4 KiB pieces as ipvsadm -Lnc counts it, by state and by real server", async () => {
    const before = ipvsadmCounts();
    const table = new ConnTableRefresher({ read: (signal) => readIpvsConnTable({ signal }) });
    await table.refreshNow();
    const after = ipvsadmCounts();
    // The table held still: UDP entries live an hour, and nothing sent since the fill.
    expect(after).toEqual(before);
    expect(before.total).toBeGreaterThan(5_000);

    const s = table.status();
    expect(s.error).toBeNull();
    expect(s.progress).toMatchObject({ inFlight: false, rows: before.total });
    expect(s.progress.bytes).toBeGreaterThan(before.total * 60);
    expect(s.ageMs).toBeGreaterThanOrEqual(0);
    const summary = s.summary!;
    expect(summary.malformed).toBe(0);
    expect(summary.entries).toBe(before.total);
    expect(summary.templates).toBe(before.templates);
    expect(summary.templates).toBeGreaterThan(0);
    expect(Object.fromEntries(summary.byState.map((b) => [b.key, b.count]))).toEqual(before.byState);
    expect(Object.fromEntries(summary.byReal.map((r) => [`${r.address}:${r.port}`, r.count]))).toEqual(before.byReal);
    // rr spreads the 53/udp connections evenly over its 4 real servers.
    const dns = summary.byReal.filter((r) => r.port === 53).map((r) => r.count);
    expect(dns).toHaveLength(4);
    expect(Math.max(...dns) - Math.min(...dns)).toBeLessThanOrEqual(1);

    // Queries come from that pass: the persistent service's connections all went to one real server.
    const sip = table.query({ filter: { virtual: { address: "192.0.2.101", port: 5060 } }, limit: 10_000 })!;
    expect(sip.complete).toBe(true);
    expect(sip.matched).toBe(summary.byVirtual.find((v) => v.port === 5060)?.count);
    expect(new Set(sip.entries.map((e) => e.destAddress)).size).toBe(1);
    expect(sip.entries.every((e) => e.clientAddress === "203.0.113.3" && e.state === "UDP")).toBe(true);
  });

  it("the agent's conns ops: filtered pages by service, real server, client range and state match ipvsadm -Lnc", async () => {
    const ops = createConnTableOps((signal) => readIpvsConnTable({ signal }));
    // The first ask starts the background pass; wait for it through status, as the page does.
    let status = await ops.status();
    for (let i = 0; i < 600 && status.summary === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = await ops.status();
    }
    expect(status.error).toBeNull();
    const lines = sh("ipvsadm -Lnc").split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 6 && f[0] !== "pro");
    const count = (pred: (f: string[]) => boolean) => lines.filter(pred).length;
    const real = DNS.reals[2] as string;

    const byReal = await ops.query({ filter: { virtual: { address: DNS.vip, port: DNS.port }, real: { address: real, port: DNS.port } }, limit: 1000 });
    expect(byReal?.matched).toBe(count((f) => f[4] === `${DNS.vip}:${DNS.port}` && f[5] === `${real}:${DNS.port}`));
    expect(byReal?.matched).toBeGreaterThan(500);
    expect(byReal?.entries.every((e) => e.destAddress === real && e.virtualPort === DNS.port)).toBe(true);

    const fromClient2 = await ops.query({ filter: { clientCidr: "203.0.113.2/32", states: ["UDP"] }, offset: 1000, limit: 10 });
    expect(fromClient2?.matched).toBe(count((f) => f[3]?.startsWith("203.0.113.2:") === true && f[2] === "UDP"));
    expect(fromClient2?.entries).toHaveLength(10);

    const range = await ops.query({ filter: { clientCidr: "203.0.113.0/30" }, limit: 1 });
    // .1, .2 and .3 are in 203.0.113.0/30: every connection (templates are left out by default).
    expect(range?.matched).toBe(count((f) => f[0] !== "IP" && !f[3]?.endsWith(":0")));

    // A refresh is a new pass; the page stays answerable meanwhile.
    const r = await ops.refresh();
    expect(r.joined).toBe(false);
    expect((await ops.query({ limit: 5 }))?.entries).toHaveLength(5);
    await ops.stop();
  });
});
