// Reads a namespace's protocol counters from /proc/net/snmp and /proc/net/netstat. PURE.
// Some faults are invisible on the wire and show only in a node's own counters (shared/kernel-lab.md): a TUN
// real server with strict rp_filter counts TcpExt.IPReversePathFilter, one without the VIP Ip.InAddrErrors.
//
//   Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ...     (a header line, then a value line
//   Ip: 2 64 16565 0 0 ...                                                 with the same prefix)

/** Counters by "Prefix.Name", e.g. "Ip.InAddrErrors", "TcpExt.IPReversePathFilter". Several files may be
 *  concatenated (`cat /proc/net/snmp /proc/net/netstat`). */
export function parseNetstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [hPrefix, ...names] = lines[i]!.trim().split(/\s+/);
    const [vPrefix, ...values] = lines[i + 1]!.trim().split(/\s+/);
    if (!hPrefix?.endsWith(":") || hPrefix !== vPrefix || names.length !== values.length) {
      throw new Error(`not a header/value line pair: ${JSON.stringify(lines[i])} / ${JSON.stringify(lines[i + 1])}`);
    }
    const prefix = hPrefix.slice(0, -1);
    names.forEach((name, j) => (out[`${prefix}.${name}`] = Number(values[j])));
  }
  return out;
}
