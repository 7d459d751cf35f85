// Address forms the IPVS /proc files print, turned into the forms an admin types.
//
// IPv4: the kernel prints ntohl(addr) with "%08X" (ip_vs_info_seq_show, ip_vs_conn_seq_show), so
// "C0000264" is 192.0.2.100, most significant byte first.
// IPv6: the kernel prints "%pI6", the full form with every group as 4 lower-case hex digits and no "::"
// ("2001:0db8:0000:0000:0000:0000:0000:0001"); we print RFC 5952 text ("2001:db8::1") like ipvsadm -n does.

/** "C0000264" -> "192.0.2.100"; null when the text is not exactly 8 hex digits. */
export function hexToIPv4(hex: string): string | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
  const n = Number.parseInt(hex, 16);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** "0050" -> 80; null unless 1 to 4 hex digits. */
export function hexToPort(hex: string): number | null {
  if (!/^[0-9A-Fa-f]{1,4}$/.test(hex)) return null;
  return Number.parseInt(hex, 16);
}

/**
 * Eight 16-bit groups -> RFC 5952 text: lower case, no leading zeros, the longest run (2 or more) of zero
 * groups shortened to "::" (the first such run on a tie), and the IPv4-mapped form ::ffff:a.b.c.d.
 */
export function formatIPv6Groups(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError(`an IPv6 address has 8 groups, got ${groups.length}`);
  const g = groups as readonly [number, number, number, number, number, number, number, number];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${g[6] >>> 8}.${g[6] & 255}.${g[7] >>> 8}.${g[7] & 255}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * Parses any textual IPv6 address ("2001:db8::1", the kernel's full "%pI6" form, "::ffff:192.0.2.1") into
 * 8 groups; null if it is not one.
 */
export function parseIPv6Groups(text: string): number[] | null {
  let s = text;
  if (s.includes(".")) {
    // An embedded IPv4 tail ("::ffff:192.0.2.1") stands for the last two groups.
    const lastColon = s.lastIndexOf(":");
    const v4 = lastColon < 0 ? null : parseIPv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const want = 8;
  const parseGroups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    for (const p of part.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(p)) return null;
      out.push(Number.parseInt(p, 16));
    }
    return out;
  };
  const dbl = s.indexOf("::");
  let groups: number[];
  if (dbl >= 0) {
    if (s.indexOf("::", dbl + 1) >= 0) return null;
    const head = parseGroups(s.slice(0, dbl));
    const rest = parseGroups(s.slice(dbl + 2));
    if (head === null || rest === null || head.length + rest.length >= want) return null;
    groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(s);
    if (all === null || all.length !== want) return null;
    groups = all;
  }
  return groups;
}

/** Any IPv6 text -> RFC 5952 text; null if it is not an IPv6 address. */
export function canonicalIPv6(text: string): string | null {
  const groups = parseIPv6Groups(text);
  return groups === null ? null : formatIPv6Groups(groups);
}

/** RFC 5952 text of an IPv6 address in any form (the kernel's full %pI6 one included); unchanged if invalid. */
export function displayIPv6(text: string): string {
  return canonicalIPv6(text) ?? text;
}

/** Dotted quad -> unsigned 32-bit number; null unless four decimal parts 0..255. */
export function parseIPv4(text: string): number | null {
  // by character codes: no split, no regular expression (the snapshot's sort parses every address)
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part > 255 || ++dots > 3) return null;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && ++digits <= 3) part = part * 10 + (c - 48);
    else return null;
  }
  return dots === 3 && digits > 0 && part <= 255 ? n * 256 + part : null;
}

/** Unsigned 32-bit number -> dotted quad. */
export function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}
