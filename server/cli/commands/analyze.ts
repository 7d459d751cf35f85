// lvsdash analyze FILE: the diagnostics over a pcap file, offline. Which addresses are VIPs, real servers and
// directors comes from a rules file (--rules, what ipvsadm-save -n writes) or, without one, from this
// machine's IPVS table; directors are named with --director (their MACs make the verdicts sharper).
import { analyzePcap, type AnalyzeResult } from "@/server/diagnostics/analyze";
import { siteContextFromRules, siteContextFromTable, type KnownHosts } from "@/server/diagnostics/context";
import type { SiteHost } from "@/server/diagnostics/types";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import { readSnapshot } from "@/server/ipvs/snapshot/model";
import { CliUsageError, EXIT, parseCommandArgs, type CliContext } from "../context";

/** "192.0.2.1" or "192.0.2.1@02:00:00:00:00:01" (the MAC required for --mac). */
function parseHost(option: string, spec: string, needMac = false): SiteHost {
  const [ip = "", mac] = spec.split("@");
  if (!/^[0-9a-fA-F:.]+$/.test(ip) || (needMac && mac === undefined)) {
    throw new CliUsageError(`--${option} wants IP${needMac ? "" : "[" }@MAC${needMac ? "" : "]"}, not "${spec}"`);
  }
  if (mac !== undefined && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) {
    throw new CliUsageError(`--${option} ${spec}: "${mac}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  }
  return mac ? { ip, mac: mac.toLowerCase() } : { ip };
}

function formatResult(r: AnalyzeResult, file: string): string {
  const s = r.stats;
  const lines = [
    `${file}: ${s.packets} packets, ${s.decoded} decoded` +
      (s.truncated || s.malformed ? `, ${s.truncated} truncated, ${s.malformed} malformed` : ""),
  ];
  if (r.findings.length === 0) {
    lines.push("no problem found");
    return `${lines.join("\n")}\n`;
  }
  for (const f of r.findings) {
    lines.push("", `[${f.severity.toUpperCase()}] ${f.title}`);
    for (const h of f.hosts) lines.push(`  ${h.role.padEnd(12)} ${h.ip.padEnd(16)} ${h.mac}`);
    lines.push("", `  ${f.explanation}`);
    const frames = f.evidence.map((e) => e.packetIndex + 1).join(", ");
    if (frames) lines.push("", `  evidence: frames ${frames}${f.activity ? ` (${f.activity.count} in all)` : ""}`);
    lines.push("", `  fix: ${f.fix.summary}`, ...f.fix.commands.map((c) => `    ${c}`));
  }
  return `${lines.join("\n")}\n`;
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    args,
    {
      rules: { type: "string" },
      director: { type: "string", multiple: true },
      fullnat: { type: "string", multiple: true },
      mac: { type: "string", multiple: true },
      json: { type: "boolean" },
    },
    true,
  );
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) throw new CliUsageError("analyze wants one pcap file");

  const macs = Object.fromEntries((values.mac ?? []).map((m) => parseHost("mac", m, true)).map((h) => [h.ip, h.mac!]));
  const hosts: KnownHosts = {
    directors: (values.director ?? []).map((d) => parseHost("director", d)),
    fullnatVips: values.fullnat ?? [],
    macs,
  };
  let site;
  if (values.rules) {
    const { table, errors } = loadIpvsadmRules(await ctx.io.readFile(values.rules));
    if (errors.length > 0) {
      ctx.io.stderr(errors.map((e) => `${values.rules}: line ${e.line}: ${e.message}\n`).join(""));
      return EXIT.usage;
    }
    site = siteContextFromRules(table, hosts);
  } else {
    const client = await ctx.kernel.openClient();
    try {
      site = siteContextFromTable(await readSnapshot(client, ctx.kernel.now), hosts);
    } finally {
      client.close();
    }
  }

  const result = await analyzePcap(file, site);
  await ctx.io.stdout(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result, file));
  return EXIT.ok;
}
