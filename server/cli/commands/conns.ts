// lvsdash conns: the connection table, streamed from /proc in 4 KiB reads (server/kernel/ipvs-conn.ts) through
// the byte-level parser (server/ipvs/proc/conn.ts). The list is written as it is read, with stdout's
// backpressure; --limit stops reading early; --summary folds everything into bounded counters.
import { ConnStreamParser, toConnEntry, type ConnFile } from "@/server/ipvs/proc/conn";
import { ConnFilterError, compileConnFilter, type ConnFilter } from "@/server/ipvs/proc/conn-filter";
import { summarizeConnections, type ConnSummary, type ConnTopList } from "@/server/ipvs/proc/conn-summary";
import { type CliContext, CliUsageError, EXIT, parseCommandArgs } from "../context";
import { CONN_HEADER, formatConnEntry } from "../format";

/** "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:80", "2001:db8::1". */
function endpoint(text: string, what: string): { address: string; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? (text.split(":").length === 2 ? /^([^:]+):(\d+)$/.exec(text) : null);
  const address = m ? m[1]! : text;
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 0 || port > 65535)) throw new CliUsageError(`${what}: port ${port} is out of range`);
  return port === undefined ? { address } : { address, port };
}

/** --filter KEY=VALUE[,KEY=VALUE] (state values may also be joined with "|"). */
export function parseConnFilters(list: readonly string[]): ConnFilter {
  const f: ConnFilter = {};
  for (const item of list.flatMap((x) => x.split(",")).filter(Boolean)) {
    const eq = item.indexOf("=");
    if (eq < 0) {
      // "state=A,B": a bare word after a state filter is one more state
      if (f.states && /^[A-Z_!?-]+$/i.test(item)) {
        f.states = [...f.states, item];
        continue;
      }
      throw new CliUsageError(`--filter "${item}": expected KEY=VALUE`);
    }
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    switch (key) {
      case "proto":
      case "protocol":
        f.protocol = value;
        break;
      case "vip":
      case "virtual":
        f.virtual = endpoint(value, "vip");
        break;
      case "rs":
      case "real":
        f.real = endpoint(value, "rs");
        break;
      case "client":
        f.clientCidr = value;
        break;
      case "state":
        f.states = [...(f.states ?? []), ...value.split("|").filter(Boolean)];
        break;
      case "templates":
        if (value !== "include" && value !== "exclude" && value !== "only") throw new CliUsageError(`--filter templates=${value}: include, exclude or only`);
        f.templates = value;
        break;
      default:
        throw new CliUsageError(`--filter: unknown key "${key}" (proto, vip, rs, client, state, templates)`);
    }
  }
  try {
    compileConnFilter(f);
  } catch (e) {
    if (e instanceof ConnFilterError) throw new CliUsageError(`--filter: ${e.message}`);
    throw e;
  }
  return f;
}

function count(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new CliUsageError(`${what} wants a whole number, not "${text}"`);
  return Number(text);
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommandArgs(args, {
    summary: { type: "boolean" },
    filter: { type: "string", multiple: true },
    limit: { type: "string" },
    top: { type: "string" },
    sync: { type: "boolean" },
    json: { type: "boolean" },
  });
  const filter = parseConnFilters(values.filter ?? []);
  const file: ConnFile = values.sync ? "ip_vs_conn_sync" : "ip_vs_conn";
  const limit = count(values.limit, "--limit", Infinity);
  const t0 = ctx.kernel.now();
  if (values.summary) {
    const s = await summarizeConnections(ctx.kernel.connTable(file), file, { filter, topN: count(values.top, "--top", 10) });
    await ctx.io.stdout(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatConnSummary(s, (ctx.kernel.now() - t0) / 1000));
    return EXIT.ok;
  }
  return listConnections(ctx, file, { templates: "include", ...filter }, limit, values.json ?? false);
}

async function listConnections(ctx: CliContext, file: ConnFile, filter: ConnFilter, limit: number, json: boolean): Promise<number> {
  const match = compileConnFilter(filter);
  let out = json ? "" : CONN_HEADER;
  let shown = 0;
  const parser = new ConnStreamParser((row) => {
    if (shown >= limit || !match(row)) return;
    shown++;
    const e = toConnEntry(row);
    out += json ? `${JSON.stringify(e)}\n` : file === "ip_vs_conn_sync" ? formatConnEntry(e).replace(/\n$/, ` ${e.origin ?? ""}\n`) : formatConnEntry(e);
  }, file);
  for await (const chunk of ctx.kernel.connTable(file)) {
    parser.write(chunk);
    if (out) {
      await ctx.io.stdout(out);
      out = "";
    }
    if (shown >= limit) break;
  }
  if (shown < limit) parser.end();
  if (out) await ctx.io.stdout(out);
  if (parser.malformed > 0) ctx.io.stderr(`lvsdash conns: ${parser.malformed} line${parser.malformed === 1 ? "" : "s"} could not be read (first: line ${parser.malformedSamples[0]?.line}: ${parser.malformedSamples[0]?.reason})\n`);
  return EXIT.ok;
}

function top(title: string, t: ConnTopList): string[] {
  if (t.items.length === 0) return [];
  const width = Math.max(...t.items.map((i) => i.key.length));
  return [`${title}${t.exact ? "" : " (approximate: more distinct keys than counters)"}:`, ...t.items.map((i) => `  ${i.key.padEnd(width)}  ${i.count}${i.error ? ` (at least ${i.count - i.error})` : ""}`)];
}

export function formatConnSummary(s: ConnSummary, seconds: number): string {
  const host = (a: string, p: number) => (a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`);
  const lines = [
    `${s.matched} connection${s.matched === 1 ? "" : "s"} matched of ${s.entries} entries (${s.templates} persistence templates, ${s.malformed} unreadable lines), read in ${seconds.toFixed(2)} s`,
  ];
  if (s.byState.length) lines.push(`by state: ${s.byState.map((x) => `${x.key} ${x.count}`).join(", ")}`);
  if (s.byProtocol.length) lines.push(`by protocol: ${s.byProtocol.map((x) => `${x.key} ${x.count}`).join(", ")}`);
  if (s.byVirtual.length) lines.push("by virtual service:", ...s.byVirtual.map((v) => `  ${v.protocol.padEnd(4)} ${host(v.address, v.port).padEnd(28)} ${v.count}`));
  if (s.byReal.length) lines.push("by real server:", ...s.byReal.map((r) => `  ${host(r.address, r.port).padEnd(33)} ${r.count}`));
  lines.push(...top("top clients", s.topClients), ...top("top client prefixes", s.topClientPrefixes));
  return lines.join("\n") + "\n";
}
