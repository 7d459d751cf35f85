// A snapshot as plain JSON, for the agent's replies, `lvsdash status --json` and scripts: u64 counters and
// rates as decimal strings (JSON numbers lose precision above 2^53), unknown attributes' bytes as hex.
// snapshotFromJson() is the exact inverse. PURE.
import type { RawAttr } from "@/server/kernel/genl/attrs";
import type { Destination, Stats, SyncDaemon } from "@/server/ipvs/netlink/types";
import type { DirectorSnapshot } from "./model";

/** T with every bigint as a string and every byte array as hex text. */
export type Jsonified<T> = T extends bigint
  ? string
  : T extends Uint8Array
    ? string
    : T extends readonly (infer U)[]
      ? Jsonified<U>[]
      : T extends object
        ? { [K in keyof T]: Jsonified<T[K]> }
        : T;

export type SnapshotJson = Jsonified<DirectorSnapshot>;

/** A deep copy with bigint -> "123" and Uint8Array -> "0a0b". */
export function jsonify<T>(value: T): Jsonified<T> {
  const walk = (v: unknown): unknown => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(value) as Jsonified<T>;
}

export function snapshotToJson(s: DirectorSnapshot): SnapshotJson {
  return jsonify(s);
}

export class SnapshotJsonError extends Error {
  override name = "SnapshotJsonError";
}

const STAT_FIELDS = ["conns", "inPkts", "outPkts", "inBytes", "outBytes", "cps", "inPps", "outPps", "inBps", "outBps"] as const;

function stats(j: Jsonified<Stats> | undefined, where: string): Stats | undefined {
  if (j === undefined) return undefined;
  const out = { width: j.width } as Stats;
  for (const f of STAT_FIELDS) {
    const text = j[f];
    if (typeof text !== "string" || !/^\d+$/.test(text)) throw new SnapshotJsonError(`${where}.stats.${f}: expected a decimal string, got ${JSON.stringify(text)}`);
    out[f] = BigInt(text);
  }
  return out;
}

function raw(list: Jsonified<RawAttr>[] | undefined, where: string): RawAttr[] {
  return (list ?? []).map((a, i) => {
    if (typeof a.value !== "string" || !/^([0-9a-f]{2})*$/.test(a.value)) throw new SnapshotJsonError(`${where}.unknown[${i}].value: expected hex`);
    return { type: a.type, nested: a.nested, value: new Uint8Array(Buffer.from(a.value, "hex")) };
  });
}

/** Reads back what snapshotToJson wrote (after JSON.parse). Throws SnapshotJsonError on a malformed counter. */
export function snapshotFromJson(j: SnapshotJson): DirectorSnapshot {
  return {
    takenAt: j.takenAt,
    info: { ...j.info },
    timeouts: { ...j.timeouts },
    daemons: j.daemons.map((d, i) => ({ ...d, unknown: raw(d.unknown, `daemons[${i}]`) }) as SyncDaemon),
    services: j.services.map((s, i) => {
      const where = `services[${i}]`;
      const { stats: sStats, unknown, destinations, ...rest } = s;
      const svc = { ...rest, unknown: raw(unknown, where), destinations: destinations.map((d, k) => {
        const dw = `${where}.destinations[${k}]`;
        const { stats: dStats, unknown: du, ...drest } = d;
        const dest = { ...drest, unknown: raw(du, dw) } as Destination;
        const st = stats(dStats, dw);
        if (st) dest.stats = st;
        return dest;
      }) } as DirectorSnapshot["services"][number];
      const st = stats(sStats, where);
      if (st) svc.stats = st;
      return svc;
    }),
  };
}
