// What a dashboard asks of a connection table with millions of entries, answered in one pass over the
// stream without holding the table: counts by state, protocol, virtual service and real server, the top
// clients and client prefixes (bounded: see heavy-hitters.ts), and one page of matching entries.

import { displayIPv6 as display6, formatIPv4 } from "./addr";
import { type ConnEntry, type ConnFile, type ConnRow, ConnStreamParser, type MalformedLine, feed, toConnEntry } from "./conn";
import { type ConnFilter, compileConnFilter } from "./conn-filter";
import { type HeavyHitter, MapSlotIndex, PairCounter, SpaceSaving, U32SlotIndex } from "./heavy-hitters";

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface ConnSummaryOptions {
  filter?: ConnFilter;
  /** How many clients and prefixes to report; default 10. */
  topN?: number;
  /**
   * Counters each client sketch may keep (clients and /24-/64 prefixes, IPv4 and IPv6 apart); default
   * 65,536: exact for up to that many distinct clients, about 3.5 MB a sketch at most.
   */
  sketchCapacity?: number;
}

export interface CountBy {
  key: string;
  count: number;
}

export interface ConnTopList {
  /** True when no counter was ever evicted: every count below is exact. */
  exact: boolean;
  /** Distinct keys held (all distinct keys seen, when exact). */
  tracked: number;
  /** count is an upper bound and count - error a lower bound of the true count (error 0 when exact). */
  items: { key: string; count: number; error: number }[];
}

export interface ConnSummary {
  file: ConnFile;
  lines: number;
  /** Well-formed entries, templates included. */
  entries: number;
  /** Entries that passed the filter (templates are left out unless the filter asks for them). */
  matched: number;
  /** Templates seen, whether or not the filter kept them. */
  templates: number;
  malformed: number;
  malformedSamples: MalformedLine[];
  byState: CountBy[];
  byProtocol: CountBy[];
  /** By (protocol, virtual address, virtual port) as the entries carry them. */
  byVirtual: { protocol: string; address: string; port: number; count: number }[];
  /** By destination (real server) address and port. */
  byReal: { address: string; port: number; count: number }[];
  topClients: ConnTopList;
  /** Client /24 (IPv4) and /64 (IPv6) prefixes. */
  topClientPrefixes: ConnTopList;
}

const byCount = <T extends { count: number }>(list: T[]): T[] => list.sort((a, b) => b.count - a.count);

/** Folds rows into a ConnSummary. Feed it with write(chunk), finish with end(). */
export class ConnSummarizer {
  readonly parser: ConnStreamParser;
  private readonly match: (row: ConnRow) => boolean;
  private readonly topN: number;
  private matched = 0;
  private templates = 0;
  private readonly stateCounts = new Float64Array(256);
  private readonly protocolCounts = new Float64Array(256);
  // IPv4 on typed-array tables keyed by (address, port | protocolId << 16); IPv6 on Maps of text keys.
  private readonly virtual4 = new PairCounter();
  private readonly real4 = new PairCounter();
  private readonly virtual6 = new Map<string, number>();
  private readonly real6 = new Map<string, number>();
  private readonly clients4: SpaceSaving<number>;
  private readonly clients6: SpaceSaving<string>;
  private readonly prefixes4: SpaceSaving<number>;
  private readonly prefixes6: SpaceSaving<string>;

  constructor(file: ConnFile = "ip_vs_conn", options: ConnSummaryOptions = {}) {
    this.match = compileConnFilter(options.filter ?? {});
    this.topN = options.topN ?? 10;
    const capacity = options.sketchCapacity ?? 65_536;
    this.clients4 = new SpaceSaving(capacity, new U32SlotIndex());
    this.prefixes4 = new SpaceSaving(capacity, new U32SlotIndex());
    this.clients6 = new SpaceSaving(capacity, new MapSlotIndex<string>());
    this.prefixes6 = new SpaceSaving(capacity, new MapSlotIndex<string>());
    this.parser = new ConnStreamParser((row) => this.add(row), file);
  }

  write(chunk: Uint8Array): void {
    this.parser.write(chunk);
  }

  private add(row: ConnRow): void {
    if (row.template) this.templates++;
    if (!this.match(row)) return;
    this.matched++;
    this.stateCounts[row.stateId] = (this.stateCounts[row.stateId] as number) + 1;
    this.protocolCounts[row.protocolId] = (this.protocolCounts[row.protocolId] as number) + 1;
    if (row.family === 4) {
      this.virtual4.add(row.virtual4, row.virtualPort | (row.protocolId << 16));
      this.clients4.add(row.client4);
      this.prefixes4.add((row.client4 & 0xffffff00) >>> 0);
    } else {
      const key = `${row.protocolId} ${row.virtual6} ${row.virtualPort}`;
      this.virtual6.set(key, (this.virtual6.get(key) ?? 0) + 1);
      this.clients6.add(row.client6);
      // The full form has a fixed width: the first 4 groups (19 characters) are the /64.
      this.prefixes6.add(row.client6.slice(0, 19));
    }
    if (row.destFamily === 4) this.real4.add(row.dest4, row.destPort);
    else {
      const key = `${row.dest6} ${row.destPort}`;
      this.real6.set(key, (this.real6.get(key) ?? 0) + 1);
    }
  }

  /** Ends the input and returns the summary. */
  end(): ConnSummary {
    this.parser.end();
    const p = this.parser;
    const named = (counts: Float64Array, names: string[]) =>
      byCount(names.flatMap((key, id) => (counts[id] ? [{ key, count: counts[id] as number }] : [])));
    const byVirtual = [
      ...this.virtual4.entries().map(([a, b, count]) => ({
        protocol: p.protocols.names[b >>> 16] as string,
        address: formatIPv4(a),
        port: b & 0xffff,
        count,
      })),
      ...[...this.virtual6].map(([key, count]) => {
        const [id = "0", v6 = "", port = "0"] = key.split(" ");
        return { protocol: p.protocols.names[Number(id)] as string, address: display6(v6), port: Number(port), count };
      }),
    ];
    const byReal = [
      ...this.real4.entries().map(([a, b, count]) => ({ address: formatIPv4(a), port: b, count })),
      ...[...this.real6].map(([key, count]) => {
        const [v6 = "", port = "0"] = key.split(" ");
        return { address: display6(v6), port: Number(port), count };
      }),
    ];
    const show = (h: HeavyHitter<unknown>, key: string) => ({ key, count: h.count, error: h.error });
    const top = (
      four: SpaceSaving<number>,
      six: SpaceSaving<string>,
      show4: (k: number) => string,
      show6: (k: string) => string,
    ): ConnTopList => ({
      exact: four.exact && six.exact,
      tracked: four.size + six.size,
      items: byCount([
        ...four.top(this.topN).map((h) => show(h, show4(h.key))),
        ...six.top(this.topN).map((h) => show(h, show6(h.key))),
      ]).slice(0, this.topN),
    });
    return {
      file: p.file,
      lines: p.lines,
      entries: p.entries,
      matched: this.matched,
      templates: this.templates,
      malformed: p.malformed,
      malformedSamples: p.malformedSamples,
      byState: named(this.stateCounts, p.states.names),
      byProtocol: named(this.protocolCounts, p.protocols.names),
      byVirtual: byCount(byVirtual),
      byReal: byCount(byReal),
      topClients: top(this.clients4, this.clients6, formatIPv4, display6),
      topClientPrefixes: top(
        this.prefixes4,
        this.prefixes6,
        (k) => `${formatIPv4(k)}/24`,
        (k) => `${display6(`${k}:0000:0000:0000:0000`)}/64`,
      ),
    };
  }
}

/** Reads a whole connection table from a stream and summarizes it in bounded memory. */
export async function summarizeConnections(
  source: Source,
  file: ConnFile = "ip_vs_conn",
  options: ConnSummaryOptions = {},
): Promise<ConnSummary> {
  const summarizer = new ConnSummarizer(file, options);
  for await (const chunk of source) summarizer.write(chunk);
  return summarizer.end();
}

export interface ConnPageOptions {
  filter?: ConnFilter;
  /** Matching entries to skip; default 0. */
  offset?: number;
  /** Entries to return; default 100. */
  limit?: number;
}

export interface ConnPage {
  entries: ConnEntry[];
  offset: number;
  /** All entries that match the filter (the page is a window on them). */
  matched: number;
  lines: number;
  malformed: number;
  malformedSamples: MalformedLine[];
}

/** Reads the table and keeps only entries offset..offset+limit-1 of those matching the filter. */
export async function readConnPage(
  source: Source,
  file: ConnFile = "ip_vs_conn",
  options: ConnPageOptions = {},
): Promise<ConnPage> {
  const offset = options.offset ?? 0;
  const limit = options.limit ?? 100;
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError("offset must be a whole number >= 0");
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError("limit must be a whole number >= 0");
  const match = compileConnFilter(options.filter ?? {});
  const entries: ConnEntry[] = [];
  let matched = 0;
  const parser = new ConnStreamParser((row) => {
    if (!match(row)) return;
    if (matched >= offset && matched < offset + limit) entries.push(toConnEntry(row));
    matched++;
  }, file);
  await feed(source, parser);
  return {
    entries,
    offset,
    matched,
    lines: parser.lines,
    malformed: parser.malformed,
    malformedSamples: parser.malformedSamples,
  };
}
