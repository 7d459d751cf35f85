// nftables for the wizards: `nft -j '<JSON document>'` (libnftables' JSON schema,
// nftables.org/manpage/libnftables-json), so no rule text is ever assembled from input; `nft -j list tables`
// to read. A batch is one transaction: it goes in whole or not at all.
//
// The document goes as one argv word, not on stdin with `-f -`: node's child stdio are socketpairs, and nft 1.0.6
// opens /dev/stdin by path, which fails on a socket ("Could not open file /dev/stdin: No such device or
// address", seen on this host). execFile passes argv without a shell.
import { execFile } from "node:child_process";

const NAME_RE = /^[A-Za-z0-9_]{1,64}$/;
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const IPV4_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

export class NftError extends Error {
  override name = "NftError";
  constructor(
    /** "EEXIST", "ENOENT" or "EUNKNOWN" (from nft's message). */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function nft(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("nft", args, { maxBuffer: 16 * 1024 * 1024, timeout: 20_000 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const text = (stderr || error.message).trim();
      const code = /File exists/.test(text) ? "EEXIST" : /No such file or directory/.test(text) ? "ENOENT" : "EUNKNOWN";
      reject(new NftError(code, `nft ${args.join(" ")}: ${text}`));
    });
  });
}

/** Runs one JSON batch ({"nftables": [...commands]}). */
export async function nftBatch(commands: readonly object[]): Promise<void> {
  await nft(["-j", JSON.stringify({ nftables: commands })]);
}

/** Tables as "family name". */
export async function listTables(): Promise<string[]> {
  const out = JSON.parse(await nft(["-j", "list", "tables"])) as { nftables?: { table?: { family: string; name: string } }[] };
  return (out.nftables ?? []).flatMap((e) => (e.table ? [`${e.table.family} ${e.table.name}`] : []));
}

export interface SnatTable {
  table: string;
  oifname: string;
  daddrs: readonly string[];
  snatTo: string;
}

/** `create` (not `add`) the table: an existing one is EEXIST, so nobody else's table is ever extended. */
export function snatTableBatch(s: SnatTable): object[] {
  if (!NAME_RE.test(s.table) || !IFNAME_RE.test(s.oifname) || !IPV4_RE.test(s.snatTo) || s.daddrs.length === 0 || !s.daddrs.every((a) => IPV4_RE.test(a))) {
    throw new NftError("EINVAL", "refused SNAT table: a name, interface or address is not valid");
  }
  const base = { family: "ip", table: s.table };
  return [
    { create: { table: { family: "ip", name: s.table } } },
    { add: { chain: { ...base, name: "postrouting", type: "nat", hook: "postrouting", prio: 100, policy: "accept" } } },
    {
      add: {
        rule: {
          ...base,
          chain: "postrouting",
          expr: [
            { match: { op: "==", left: { meta: { key: "oifname" } }, right: s.oifname } },
            { match: { op: "==", left: { payload: { protocol: "ip", field: "daddr" } }, right: { set: [...s.daddrs] } } },
            { snat: { addr: s.snatTo } },
          ],
        },
      },
    },
  ];
}

export async function createSnatTable(s: SnatTable): Promise<void> {
  await nftBatch(snatTableBatch(s));
}

export async function deleteTable(family: "ip", name: string): Promise<void> {
  if (!NAME_RE.test(name)) throw new NftError("EINVAL", `not a table name: ${JSON.stringify(name)}`);
  await nftBatch([{ delete: { table: { family, name } } }]);
}
