// The recorder: replays every mode x fault of lab/site in the lab guest and records what the real kernel
// and the wire showed, so that unit tests decode real data (run by `npm run lab:record`, which copies the
// result into test/fixtures/lab/).
//
// For each case, a fresh site (no state left over from the previous case), then:
//   1. tcpdump on the LAN bridge (lan.pcap), on the inner bridge where there is one (inner.pcap), and on each
//      of the director's interfaces (director-IF.pcap), started before any traffic;
//   2. the router's neighbour cache flushed, so the capture begins with the ARP exchange for the VIP;
//   3. REQUESTS requests from the client, one connection each;
//   4. right after: ipvsadm -Ln / --stats --exact / --rate / -Lnc, ipvsadm-save -n, every /proc/net/ip_vs*
//      file, the router's neighbour table, the client's answers (hits.json) and the site (site.json);
//   5. note.md: what the case is and what it shows.
// Usage (in the guest): tsx lab/recorder/record.ts [CASE...]   e.g. dr-healthy nat-nat-gw-wrong
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildSite, type Capture, type Site } from "../site/site";
import { FAULTS_BY_MODE, MODES, type Fault, type FaultKind, type Mode } from "../site/spec";

const REQUESTS = 30;
const FAULTY_RS = "rs2";
const out = join(process.env.LAB_ARTIFACTS ?? "/tmp/lab-record", "fixtures");

/** What each fault does and what the recording shows (lab/site/README.md has the details). */
const FAULT_NOTES: Record<FaultKind, string> = {
  "rs-arp":
    "rs2 runs with arp_ignore=0 and arp_announce=0, so it answers who-has for the VIP (held on its lo) like " +
    "the director does. The router caches whichever answer it keeps, and traffic can bypass the director.",
  "rs-gw-director":
    "rs2's default route points at the director's DIP instead of the router: its replies (source VIP) go " +
    "to the director's MAC instead of straight to the router.",
  "nat-gw-wrong":
    "rs2's default gateway is an inner-net address nobody owns: its replies never leave; it keeps asking ARP " +
    "for that gateway, and the client's connections scheduled to rs2 fail.",
  "nat-gw-missing":
    "rs2 has no default route: it cannot answer the client's address, and connections scheduled to rs2 fail.",
  "tun-rp-filter":
    "rs2 has rp_filter=1 on all and tunl0: it drops the decapsulated packets (reverse path check), so " +
    "connections scheduled to rs2 fail although the director tunnels them.",
  "tun-no-vip":
    "rs2 has no VIP on tunl0: the decapsulated packets are not for a local address and are dropped.",
  "fullnat-no-conntrack":
    "The director runs with net.ipv4.vs.conntrack=0: the nftables SNAT rule never matches IPVS traffic, so " +
    "real servers see the client's address and answer through their own gateway, and the replies are lost.",
};

interface Case {
  id: string;
  mode: Mode;
  fault: Fault | null;
}

function allCases(): Case[] {
  const cases: Case[] = [];
  for (const mode of MODES) {
    cases.push({ id: `${mode}-healthy`, mode, fault: null });
    for (const kind of FAULTS_BY_MODE[mode]) {
      const fault: Fault = kind === "fullnat-no-conntrack" ? { kind } : { kind, rs: FAULTY_RS };
      cases.push({ id: `${mode}-${kind}`, mode, fault });
    }
  }
  return cases;
}

async function record(c: Case): Promise<void> {
  const dir = join(out, c.id);
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const site: Site = await buildSite({ name: "rec", mode: c.mode, faults: c.fault ? [c.fault] : [] });
  try {
    const captures: Capture[] = [await site.capture(join(dir, "lan.pcap"))];
    if (site.plan.bridges.inner) captures.push(await site.capture(join(dir, "inner.pcap"), { segment: "inner" }));
    for (const i of site.host("dir").interfaces) {
      captures.push(await site.capture(join(dir, `director-${i.ifname}.pcap`), { node: "dir", ifname: i.ifname }));
    }

    await site.sh("router", "ip neigh flush all");
    const result = await site.request(REQUESTS);
    for (const cap of captures) await cap.stop(); // each waits for the last packets before it stops

    // Everything the director showed right after, read in one shell so the numbers belong together.
    await site.sh(
      "dir",
      [
        "ipvsadm -Ln > ipvsadm-Ln.txt",
        "ipvsadm -Ln --stats --exact > ipvsadm-stats-exact.txt",
        "ipvsadm -Ln --stats > ipvsadm-stats.txt",
        "ipvsadm -Ln --rate > ipvsadm-rate.txt",
        "ipvsadm -Lnc > ipvsadm-Lnc.txt",
        "ipvsadm-save -n > ipvsadm-save.txt",
        "ipvsadm -Ln --timeout > ipvsadm-timeout.txt",
        "for f in ip_vs ip_vs_stats ip_vs_stats_percpu ip_vs_conn ip_vs_conn_sync; do cat /proc/net/$f > proc.$f.txt; done",
      ].map((l) => `(cd '${dir}' && ${l})`).join("\n"),
    );
    const neigh = await site.exec("router", ["ip", "neigh", "show"]);
    writeFileSync(join(dir, "router-neigh.txt"), neigh.stdout);

    const { responses: _responses, ...hits } = result;
    writeFileSync(join(dir, "hits.json"), `${JSON.stringify(hits, null, 2)}\n`);
    writeFileSync(
      join(dir, "site.json"),
      `${JSON.stringify({ mode: c.mode, fault: c.fault, vip: site.vip, vipPort: site.vipPort, hosts: site.hosts }, null, 2)}\n`,
    );
    const answered = Object.entries(hits.byServer).map(([rs, n]) => `${rs} ${n}`).join(", ") || "none";
    writeFileSync(
      join(dir, "note.md"),
      [
        `# ${c.id}`,
        "",
        `Mode ${c.mode.toUpperCase()}, ${c.fault ? `fault \`${c.fault.kind}\`${"rs" in c.fault ? ` on ${c.fault.rs}` : ""}` : "healthy"}. ` +
          `Service TCP ${site.vip}:${site.vipPort}, scheduler ${site.plan.spec.scheduler}, ` +
          site.plan.spec.realServers.map((r) => `${r.name} weight ${r.weight}`).join(", ") + ".",
        "",
        c.fault ? FAULT_NOTES[c.fault.kind] : "Every real server is set up correctly: a diagnostic tool should report nothing wrong.",
        "",
        `${REQUESTS} requests from the client ${site.host("client").interfaces[0]?.address}: answered by ${answered}; ` +
          `${hits.failures} failed${hits.failures ? ` (${Object.entries(hits.failureReasons).map(([k, v]) => `${k} ${v}`).join(", ")})` : ""}.`,
        "",
        "Files: lan.pcap (LAN bridge), inner.pcap (inner bridge, NAT/FULLNAT), director-IF.pcap (each director " +
          "interface), ipvsadm-*.txt and proc.*.txt (the director right after the traffic), router-neigh.txt, " +
          "hits.json (the client's answers), site.json (every host's addresses, MACs and role), " +
          "tshark-expert.txt (`tshark -r lan.pcap -q -z expert`, added on the host).",
        "",
      ].join("\n"),
    );
    process.stdout.write(`recorded ${c.id} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${answered}; ${hits.failures} failed\n`);
  } finally {
    await site.destroy();
  }
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const cases = allCases().filter((c) => wanted.length === 0 || wanted.includes(c.id));
  if (cases.length === 0) throw new Error(`no such case: ${wanted.join(" ")} (cases: ${allCases().map((c) => c.id).join(" ")})`);
  // One failed case does not lose the others: each is kept once complete (note.md is written last).
  const failed: string[] = [];
  for (const c of cases) {
    try {
      await record(c);
    } catch (e) {
      failed.push(c.id);
      process.stderr.write(`record: ${c.id} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  if (failed.length > 0) throw new Error(`${failed.length} of ${cases.length} cases failed: ${failed.join(" ")}`);
}

main().catch((e: unknown) => {
  process.stderr.write(`record: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
