// Reads what the lab needs from `ipvsadm -Ln --stats --exact`: per real server counters. PURE.
// The project's own IPVS client lives in server/; the lab checks the kernel with Debian's ipvsadm instead,
// so that the two can be compared.
//
//   IP Virtual Server version 1.2.1 (size=4096)
//   Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
//     -> RemoteAddress:Port
//   TCP  192.0.2.100:80                     30      165        0    10500        0
//     -> 192.0.2.11:80                      10       56        0     3552        0

export interface DestStats {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

export interface ServiceStats extends DestStats {
  protocol: string;
  /** "192.0.2.100:80" */
  service: string;
  /** By "address:port" of the real server. */
  dests: Record<string, DestStats>;
}

const SERVICE_RE = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/;
const DEST_RE = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/;

/** Parses `ipvsadm -Ln --stats --exact` (without --exact large numbers are abbreviated: "1K"; those lines
 *  do not match and are rejected). */
export function parseIpvsadmStats(text: string): ServiceStats[] {
  const out: ServiceStats[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^(IP Virtual Server|Prot |\s+-> RemoteAddress)/.test(line)) continue;
    const svc = SERVICE_RE.exec(line);
    if (svc) {
      out.push({ protocol: svc[1]!, service: svc[2]!, ...counters(svc.slice(3)), dests: {} });
      continue;
    }
    const dest = DEST_RE.exec(line);
    const current = out[out.length - 1];
    if (dest && current) {
      current.dests[dest[1]!] = counters(dest.slice(2));
      continue;
    }
    throw new Error(`unexpected line in ipvsadm --stats --exact output: ${JSON.stringify(line)}`);
  }
  return out;
}

function counters(f: string[]): DestStats {
  const [conns, inPkts, outPkts, inBytes, outBytes] = f.map(Number) as [number, number, number, number, number];
  return { conns, inPkts, outPkts, inBytes, outBytes };
}
