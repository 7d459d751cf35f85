// One pass of the connection-table refresher over the real /proc/net/ip_vs_conn, in a process of its own so
// that its peak RSS is the pass's and nothing else's (the benchmark's main process holds a 1M-line file).
// Prints one JSON line. Run by bench/ipvs/run.ts in the lab guest:
//   node --import tsx bench/ipvs/conn-child.ts [--retain N]
import { ConnTableRefresher } from "@/server/ipvs/conntable/refresher";
import { readIpvsConnTable } from "@/server/kernel/ipvs-conn";
import { timeCall } from "./measure";

// The summary alone by default (what the target is about: memory that does not grow with the table);
// `--retain N` adds the store for paged queries (25 bytes an entry, up to N entries).
const i = process.argv.indexOf("--retain");
const retainEntries = i >= 0 ? Number(process.argv[i + 1]) : 0;
const table = new ConnTableRefresher({ read: (signal) => readIpvsConnTable({ signal }), retainEntries });
const rssBeforeKb = process.resourceUsage().maxRSS;
const cpu0 = process.cpuUsage();
const { sample } = await timeCall(() => table.refreshNow());
const cpu = process.cpuUsage(cpu0);
const status = table.status();
if (status.error) throw new Error(`the pass failed: ${status.error.message}`);
const s = status.summary;
console.log(
  JSON.stringify({
    ...sample,
    // System time is mostly the kernel's walk of the table on each read() (charged to the reader).
    userMs: cpu.user / 1000,
    systemMs: cpu.system / 1000,
    maxRssKb: process.resourceUsage().maxRSS,
    rssBeforeKb,
    heapUsedKb: Math.round(process.memoryUsage().heapUsed / 1024),
    bytes: status.progress.bytes,
    rows: status.progress.rows,
    entries: s?.entries,
    byState: s?.byState,
    byReal: s?.byReal,
  }),
);
