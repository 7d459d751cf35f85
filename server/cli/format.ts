// The tables `lvsdash status` prints, in ipvsadm 1.31's own layout (print_title, print_service_entry and
// print_largenum in ipvsadm.c, with FMT_NUMERIC), so that an admin's eyes and scripts find the columns where
// `ipvsadm -Ln --stats` and `--rate` put them:
//
//   IP Virtual Server version 1.2.1 (size=4096)                        "IP Virtual Server version %d.%d.%d (size=%d)"
//   Prot LocalAddress:Port               Conns   InPkts  OutPkts ...   "%-33s %8s %8s %8s %8s %8s"
//     -> RemoteAddress:Port
//   TCP  192.0.2.100:80                     30      165        0 ...   "%-33s" then print_largenum() x 5
//     -> 192.0.2.11:80                      10       56        0 ...   "  -> %-28s" then print_largenum() x 5
//   (--rate, real servers: "  -> %-28s %8llu %8llu %8llu" for CPS/InPPS/OutPPS, print_largenum() for the BPS)
//
// print_largenum: exact, "%9llu" up to 8 digits and one leading space beyond; otherwise "%9llu" below 10^8,
// then "%8lluK" (/10^3) below 10^9, "M" (/10^6) below 10^11, "G" (/10^9) below 10^14, else "T" (/10^12).
// Connection entries (`lvsdash conns`) as `ipvsadm -Lnc`: "%-3s %-6s %-11s %-18s %-18s %s". PURE.
import type { ConnEntry } from "@/server/ipvs/proc/conn";
import { isFwmarkService, type Destination, type ServiceWithDestinations, type Stats } from "@/server/ipvs/netlink/types";
import type { DirectorSnapshot } from "@/server/ipvs/snapshot/model";

export function largenum(n: bigint, exact: boolean): string {
  if (exact) {
    const s = n.toString();
    return s.length <= 8 ? s.padStart(9) : ` ${s}`;
  }
  const scaled = (div: bigint, unit: string) => `${(n / div).toString().padStart(8)}${unit}`;
  if (n < 100_000_000n) return n.toString().padStart(9);
  if (n < 1_000_000_000n) return scaled(1_000n, "K");
  if (n < 100_000_000_000n) return scaled(1_000_000n, "M");
  if (n < 100_000_000_000_000n) return scaled(1_000_000_000n, "G");
  return scaled(1_000_000_000_000n, "T");
}

const hostPort = (family: string, address: string, port: number) => (family === "inet6" ? `[${address}]:${port}` : `${address}:${port}`);

/** "TCP  192.0.2.100:80", "FWM  7 IPv6": the service column. */
export function serviceName(s: ServiceWithDestinations): string {
  const v = s.service;
  if (isFwmarkService(v)) return v.family === "inet6" ? `FWM  ${v.fwmark} IPv6` : `FWM  ${v.fwmark}`;
  const name = `${v.protocol.toUpperCase().padEnd(4)} ${hostPort(v.family, v.address, v.port)}`;
  return v.family === "inet6" ? name : name.slice(0, 33);
}

function destName(d: Destination): string {
  const name = hostPort(d.family, d.address, d.port);
  return d.family === "inet6" ? name : name.slice(0, 28);
}

const ZERO: Stats = { conns: 0n, inPkts: 0n, outPkts: 0n, inBytes: 0n, outBytes: 0n, cps: 0n, inPps: 0n, outPps: 0n, inBps: 0n, outBps: 0n, width: 64 };

export interface StatusFormat {
  /** --rate: CPS, InPPS, OutPPS, InBPS, OutBPS instead of the counters. */
  rate?: boolean;
  /** --exact: whole numbers, no K/M/G/T. */
  exact?: boolean;
}

export function formatHeader(snap: Pick<DirectorSnapshot, "info">): string {
  return `IP Virtual Server version ${snap.info.version} (size=${snap.info.connTableSize})\n`;
}

/** The whole table as `ipvsadm -Ln --stats [--exact]` or `ipvsadm -Ln --rate [--exact]` prints it. */
export function formatStatus(snap: Pick<DirectorSnapshot, "info" | "services">, f: StatusFormat = {}): string {
  const exact = f.exact ?? false;
  const cols = f.rate ? ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"] : ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"];
  let out = formatHeader(snap);
  out += `${"Prot LocalAddress:Port".padEnd(33)} ${cols.map((c) => c.padStart(8)).join(" ")}\n  -> RemoteAddress:Port\n`;
  for (const s of snap.services) {
    const st = s.stats ?? ZERO;
    const nums = f.rate ? [st.cps, st.inPps, st.outPps, st.inBps, st.outBps] : [st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes];
    out += serviceName(s).padEnd(33) + nums.map((n) => largenum(n, exact)).join("") + "\n";
    for (const d of s.destinations) {
      const ds = d.stats ?? ZERO;
      if (f.rate) {
        out += `  -> ${destName(d).padEnd(28)} ${[ds.cps, ds.inPps, ds.outPps].map((n) => n.toString().padStart(8)).join(" ")}${largenum(ds.inBps, exact)}${largenum(ds.outBps, exact)}\n`;
      } else {
        out += `  -> ${destName(d).padEnd(28)}${[ds.conns, ds.inPkts, ds.outPkts, ds.inBytes, ds.outBytes].map((n) => largenum(n, exact)).join("")}\n`;
      }
    }
  }
  return out;
}

// ---- connection entries ----------------------------------------------------------------------------------

export const CONN_HEADER = `IPVS connection entries\npro expire ${"state".padEnd(11)} ${"source".padEnd(18)} ${"virtual".padEnd(18)} destination\n`;

const connHost = (family: 4 | 6, address: string, port: number) => (family === 6 ? `[${address}]:${port}` : `${address}:${port}`);

/** One entry as `ipvsadm -Lnc` prints it. */
export function formatConnEntry(e: ConnEntry): string {
  const expire = `${String(Math.floor(e.expires / 60)).padStart(2, "0")}:${String(e.expires % 60).padStart(2, "0")}`;
  return `${e.protocol.padEnd(3)} ${expire.padEnd(6)} ${e.state.padEnd(11)} ${connHost(e.family, e.clientAddress, e.clientPort).padEnd(18)} ${connHost(e.family, e.virtualAddress, e.virtualPort).padEnd(18)} ${connHost(e.destFamily, e.destAddress, e.destPort)}\n`;
}
