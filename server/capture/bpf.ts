// The BPF filter of a live capture, built from the site: only what the detectors read reaches user space.
// PURE (the capture in server/kernel/capture.ts compiles it with libpcap).
//
//   arp                         who owns each VIP, real servers' gateways
//   host VIP ...                clients' traffic to the VIPs and the replies from them (DR/TUN: from the RSes)
//   host RIP ...                NAT/FULLNAT: forwarded connections and replies; DR/TUN: the RSes' own traffic
//   ip proto 4                  IPIP (LVS-TUN) to any real server, even one the table does not list yet
//
// The same again behind one 802.1Q tag (`vlan and (...)`): on a trunk port every frame is tagged, and a
// filter without `vlan` looks at the wrong offsets. Addresses are parsed, never pasted: a filter string
// cannot be smuggled in through a site description. Beyond MAX_HOSTS addresses, IPv4 addresses are folded
// into their /24 networks so the program stays small (libpcap's optimiser copes; the kernel's BPF limit is
// 4096 instructions).

import { canonicalIPv6, parseIPv4, formatIPv4 } from "@/server/ipvs/proc/addr";
import type { SiteContext } from "@/server/diagnostics/types";

export const MAX_HOSTS = 64;

export interface CaptureScope {
  vips: readonly string[];
  realServers: readonly string[];
  /** Directors' own addresses (DIP): ARP and their traffic with the real servers. */
  directors?: readonly string[];
  /** Any LVS-TUN service: capture IPIP. */
  tunnel: boolean;
}

export class FilterError extends Error {
  override name = "FilterError";
}

export function scopeOfSite(site: SiteContext): CaptureScope {
  return {
    vips: site.vips.map((v) => v.address),
    realServers: site.realServers.map((r) => r.ip),
    directors: site.directors.map((d) => d.ip),
    tunnel: site.vips.some((v) => v.mode === "tun"),
  };
}

/** "arp or host 192.0.2.100 or ... or ip proto 4 or (vlan and (...))". */
export function buildCaptureFilter(scope: CaptureScope): string {
  const v4 = new Set<number>();
  const v6 = new Set<string>();
  for (const a of [...scope.vips, ...scope.realServers, ...(scope.directors ?? [])]) {
    const n = parseIPv4(a);
    if (n !== null) {
      v4.add(n);
      continue;
    }
    const six = canonicalIPv6(a);
    if (six === null) throw new FilterError(`not an IP address: ${JSON.stringify(a)}`);
    v6.add(six);
  }
  const terms = ["arp"];
  if (v4.size + v6.size > MAX_HOSTS) {
    const nets = new Set([...v4].map((n) => (n & 0xffffff00) >>> 0));
    for (const n of [...nets].sort((a, b) => a - b)) terms.push(`net ${formatIPv4(n)}/24`);
  } else {
    for (const n of [...v4].sort((a, b) => a - b)) terms.push(`host ${formatIPv4(n)}`);
  }
  for (const a of [...v6].sort()) terms.push(`host ${a}`);
  if (scope.tunnel) terms.push("ip proto 4");
  const inner = terms.join(" or ");
  return `${inner} or (vlan and (${inner}))`;
}
