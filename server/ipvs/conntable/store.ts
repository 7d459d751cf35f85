// The entries of one pass over the connection table, packed into columns so that paged and filtered queries
// can be answered between passes without reading the table again (a read is quadratic in the table's size on
// kernels before 6.14: see ./refresher.ts).
//
// One entry costs 25 bytes: protocol, state and flags (1 byte each), the three IPv4 addresses (u32 each), the
// three ports (u16 each) and the expiry (u32). What does not fit a column (IPv6 addresses, a persistence
// engine's name and data, the sync file's origin) goes to a side map keyed by the entry's index: rare on real
// tables. The store holds at most `capacity` entries; past that it counts what it dropped, and a query says
// its answer covers only the first `capacity` entries of the pass.
import type { ConnEntry, ConnRow } from "@/server/ipvs/proc/conn";
import { toConnEntry } from "@/server/ipvs/proc/conn";
import { compileConnFilter, type ConnFilter } from "@/server/ipvs/proc/conn-filter";

const V6 = 1; // family 6
const DEST_V6 = 2; // destFamily 6
const TEMPLATE = 4;

interface Extra {
  client6: string;
  virtual6: string;
  dest6: string;
  peName: string;
  peData: string;
  origin: string;
}

export interface ConnStorePage {
  entries: ConnEntry[];
  offset: number;
  /** Retained entries that match the filter. */
  matched: number;
  /** False when the pass saw more entries than the store holds: `matched` is then a lower bound. */
  complete: boolean;
  retained: number;
  dropped: number;
}

export class ConnStore {
  private size = 0;
  private dropped = 0;
  private meta = new Uint8Array(0); // 3 bytes an entry: protocolId, stateId, flags
  private addrs = new Uint32Array(0); // 3 an entry: client4, virtual4, dest4
  private ports = new Uint16Array(0); // 3 an entry: clientPort, virtualPort, destPort
  private expires = new Uint32Array(0);
  private readonly extras = new Map<number, Extra>();
  private lastMatch: { key: string; size: number; indexes: Uint32Array } | null = null;

  constructor(
    readonly capacity: number,
    /** The parser's id -> name tables (shared, and they only grow, so ids stay valid). */
    private readonly names: { protocols: readonly string[]; states: readonly string[] },
  ) {}

  get retained(): number {
    return this.size;
  }

  /** Bytes held by the columns (the side map not counted). */
  get bytes(): number {
    return this.meta.byteLength + this.addrs.byteLength + this.ports.byteLength + this.expires.byteLength;
  }

  add(row: ConnRow): void {
    if (this.size >= this.capacity) {
      this.dropped++;
      return;
    }
    const i = this.size;
    if (i >= this.expires.length) this.grow();
    this.meta[3 * i] = row.protocolId;
    this.meta[3 * i + 1] = row.stateId;
    this.meta[3 * i + 2] = (row.family === 6 ? V6 : 0) | (row.destFamily === 6 ? DEST_V6 : 0) | (row.template ? TEMPLATE : 0);
    this.addrs[3 * i] = row.client4;
    this.addrs[3 * i + 1] = row.virtual4;
    this.addrs[3 * i + 2] = row.dest4;
    this.ports[3 * i] = row.clientPort;
    this.ports[3 * i + 1] = row.virtualPort;
    this.ports[3 * i + 2] = row.destPort;
    this.expires[i] = row.expires;
    if (row.family === 6 || row.destFamily === 6 || row.peName !== "" || row.origin !== "") {
      this.extras.set(i, { client6: row.client6, virtual6: row.virtual6, dest6: row.dest6, peName: row.peName, peData: row.peData, origin: row.origin });
    }
    this.size++;
  }

  /** Entries offset..offset+limit-1 of those matching the filter, in the table's order. */
  page(filter: ConnFilter, offset: number, limit: number): ConnStorePage {
    const matches = this.matching(filter);
    const row = blankRow();
    const entries: ConnEntry[] = [];
    const end = Math.min(matches.length, offset + limit);
    for (let k = offset; k < end; k++) {
      this.fill(row, matches[k] as number);
      entries.push(toConnEntry(row));
    }
    return { entries, offset, matched: matches.length, complete: this.dropped === 0, retained: this.size, dropped: this.dropped };
  }

  /**
   * The indexes of the entries matching `filter`. One scan of the columns (about 40 ms at a million entries on
   * the build machine); the last filter's answer is kept (4 bytes a match), so paging on through the same
   * filter costs only the page.
   */
  private matching(filter: ConnFilter): Uint32Array {
    const key = JSON.stringify(filter);
    if (this.lastMatch?.key === key && this.lastMatch.size === this.size) return this.lastMatch.indexes;
    const match = compileConnFilter(filter);
    const row = blankRow();
    let out = new Uint32Array(Math.min(this.size, 1024));
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      this.fill(row, i);
      if (!match(row)) continue;
      if (n === out.length) {
        const bigger = new Uint32Array(Math.min(this.size, out.length * 2));
        bigger.set(out);
        out = bigger;
      }
      out[n++] = i;
    }
    const indexes = out.subarray(0, n);
    this.lastMatch = { key, size: this.size, indexes };
    return indexes;
  }

  private fill(row: ConnRow, i: number): void {
    const flags = this.meta[3 * i + 2] as number;
    row.lineNo = i;
    row.protocolId = this.meta[3 * i] as number;
    row.protocol = this.names.protocols[row.protocolId] ?? "?";
    row.stateId = this.meta[3 * i + 1] as number;
    row.state = this.names.states[row.stateId] ?? "?";
    row.family = flags & V6 ? 6 : 4;
    row.destFamily = flags & DEST_V6 ? 6 : 4;
    row.template = (flags & TEMPLATE) !== 0;
    row.client4 = this.addrs[3 * i] as number;
    row.virtual4 = this.addrs[3 * i + 1] as number;
    row.dest4 = this.addrs[3 * i + 2] as number;
    row.clientPort = this.ports[3 * i] as number;
    row.virtualPort = this.ports[3 * i + 1] as number;
    row.destPort = this.ports[3 * i + 2] as number;
    row.expires = this.expires[i] as number;
    const x = this.extras.size > 0 ? this.extras.get(i) : undefined;
    row.client6 = x?.client6 ?? "";
    row.virtual6 = x?.virtual6 ?? "";
    row.dest6 = x?.dest6 ?? "";
    row.peName = x?.peName ?? "";
    row.peData = x?.peData ?? "";
    row.origin = x?.origin ?? "";
  }

  private grow(): void {
    const n = Math.min(this.capacity, Math.max(1024, this.expires.length * 2));
    const meta = new Uint8Array(3 * n);
    meta.set(this.meta);
    const addrs = new Uint32Array(3 * n);
    addrs.set(this.addrs);
    const ports = new Uint16Array(3 * n);
    ports.set(this.ports);
    const expires = new Uint32Array(n);
    expires.set(this.expires);
    this.meta = meta;
    this.addrs = addrs;
    this.ports = ports;
    this.expires = expires;
  }
}

function blankRow(): ConnRow {
  return {
    lineNo: 0, protocol: "", protocolId: 0, family: 4, destFamily: 4, client4: 0, virtual4: 0, dest4: 0,
    client6: "", virtual6: "", dest6: "", clientPort: 0, virtualPort: 0, destPort: 0, state: "", stateId: 0,
    expires: 0, origin: "", peName: "", peData: "", template: false,
  };
}
