// lvsdash, the command line: `lvsdash <command> [options]`. bin/lvsdash.js loads this file through tsx and
// calls runCli(). Commands live in commands/<name>.ts and are loaded when used; the table below is the one
// place a command is added.
//
// Exit codes: 0 ok, 1 the kernel refused or an apply failed (rolled back), 2 usage error or bad input (nothing
// changed), 3 IPVS not loaded, 4 permission denied.
import { CliUsageError, EXIT, type CliContext, type CliIo, type CliKernel } from "./context";

export interface CliCommandModule {
  run(args: string[], ctx: CliContext): Promise<number>;
}

export interface CliCommand {
  summary: string;
  /** The command's --help text. */
  usage: string;
  load(): Promise<CliCommandModule>;
}

export const COMMANDS: Record<string, CliCommand> = {
  status: {
    summary: "the virtual service table with counters, like ipvsadm -Ln --stats",
    usage: `usage: lvsdash status [--json] [--exact] [--rate]

  Prints every virtual service and real server with their counters, in the layout of
  \`ipvsadm -Ln --stats\` (header included).
    --exact   whole numbers (ipvsadm --exact), no K/M/G/T
    --rate    rates instead of counters (ipvsadm --rate): CPS InPPS OutPPS InBPS OutBPS
    --json    the whole snapshot as JSON: info, services with real servers, counters and
              rates (64-bit numbers as strings), timeouts, sync daemons
`,
    load: () => import("./commands/status"),
  },
  save: {
    summary: "the rules, like ipvsadm-save -n",
    usage: `usage: lvsdash save [--thresholds]

  Prints the table as ipvsadm rules, byte for byte what \`ipvsadm-save -n\` prints.
    --thresholds   also write -x/-y (ipvsadm-save leaves real server thresholds out)
`,
    load: () => import("./commands/save"),
  },
  restore: {
    summary: "make the table what a rules file says: validated, planned, rolled back on failure",
    usage: `usage: lvsdash restore [--dry-run] [--keep] FILE|-

  Reads ipvsadm rules (what ipvsadm-save writes, ipvsadm-restore reads; - for stdin), checks
  every line and every scheduler module first (any problem: nothing is changed, exit 2),
  prints the plan (the changes, as ipvsadm commands), then applies it. Services the file does
  not list are removed, as after \`ipvsadm -C; ipvsadm-restore\`. If the kernel refuses a
  command, what was done is undone and the table checked against the one before (exit 1).
    --dry-run   print the changes only
    --keep      leave services the file does not list alone
`,
    load: () => import("./commands/restore"),
  },
  conns: {
    summary: "the connection table (/proc/net/ip_vs_conn), streamed: list or summary",
    usage: `usage: lvsdash conns [--summary] [--filter KEY=VALUE]... [--limit N] [--top N] [--sync] [--json]

  Reads /proc/net/ip_vs_conn in 4 KiB pieces without holding it. Lists the entries like
  \`ipvsadm -Lnc\`, or with --summary counts them by state, protocol, virtual service and real
  server, with the top clients and client prefixes (memory does not grow with the table).
  Large tables are slow to read on kernels before 6.14 (every read walks the table again).
    --filter proto=TCP | vip=ADDR[:PORT] | rs=ADDR[:PORT] | client=CIDR |
             state=S1,S2 | templates=include|exclude|only      (repeat, or join with ",")
             default templates: include for the list (as ipvsadm), exclude for --summary
    --limit N   list at most N entries
    --top N     clients and prefixes in the summary (default 10)
    --sync      read /proc/net/ip_vs_conn_sync (with the Origin column) instead
    --json      JSON: the summary, or one entry per line
`,
    load: () => import("./commands/conns"),
  },
  analyze: {
    summary: "find LVS misconfigurations in a pcap file: ARP for VIPs, return paths",
    usage: `usage: lvsdash analyze [--rules FILE] [--director IP[@MAC]]... [--mac IP@MAC]... [--fullnat VIP]... [--json] PCAP

  Decodes the capture (classic pcap, Ethernet) and runs every detector: real servers answering
  ARP for a VIP, NAT replies that bypass the director, DR/TUN replies sent to the director,
  tunnelled SYNs nobody answers, FULLNAT without vs.conntrack. Each finding names the hosts,
  the frames that show it (Wireshark's numbering) and the fix.
    --rules FILE      the IPVS table as ipvsadm-save -n writes it (default: this machine's)
    --director IP[@MAC]   a director address (repeat for each; the MAC sharpens the verdicts)
    --mac IP@MAC      a real server's MAC (what the director's \`ip neigh\` shows): names it
    --fullnat VIP     a masquerading VIP that is FULLNAT (IPVS NAT + SNAT on the director)
    --json            the findings, duplicates and decode counts as JSON
`,
    load: () => import("./commands/analyze"),
  },
  "rs-agent": {
    summary: "run the real-server agent: facts and real-server steps over HTTP(S) with a token",
    usage: `usage: lvsdash rs-agent --listen HOST[:PORT] [--token-file PATH] [--cert PEM --key PEM] [--state-dir DIR]

  Serves this real server's side of a site to a paired dashboard, headless (no web UI): its
  addresses, routes and ARP/rp_filter sysctls (rs.facts), and the wizard's real-server steps
  with an undo journal, rolled back unless the dashboard confirms in time. Runs as root.
    --listen HOST[:PORT]   the management address (default port 9443)      LVSDASH_RS_LISTEN
    --token-file PATH      bearer token; created with a new token, printed once, on first start
                           (default /etc/lvs-dashboard/rs-token)            LVSDASH_RS_TOKEN_FILE
                           or the token itself in                           LVSDASH_RS_TOKEN
    --cert PEM --key PEM   HTTPS (prints the certificate's SHA-256 to pin when pairing)
    --state-dir DIR        the journal of an unconfirmed change, rolled back at the next start
                           if the agent died (default /var/lib/lvs-dashboard-rs)  LVSDASH_RS_STATE_DIR
`,
    load: () => import("./commands/rs-agent"),
  },
  user: {
    summary: "the dashboard's accounts: add, list, remove, passwd, role",
    usage: `usage: lvsdash user add NAME [--role admin|viewer] | list | remove NAME | passwd NAME | role NAME ROLE
                    [--data-dir DIR]

  Manages the web dashboard's users in the data directory (LVSDASH_DATA_DIR, else
  /var/lib/lvs-dashboard). The password is asked twice on the terminal, without echo, or read
  from the first line of stdin (never from the command line):
      lvsdash user add alice --role admin
      printf '%s\\n' "$PW" | lvsdash user add bob --role viewer
  passwd and remove end the user's sessions. The last admin cannot be removed or demoted.
  Run as root, it leaves the files to the lvsdash user the web server runs as.
    --role ROLE      admin (may change the director) or viewer (reads only); default viewer
    --data-dir DIR   another data directory
`,
    load: () => import("./commands/user"),
  },
};

function mainUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return `usage: lvsdash <command> [options]      (lvsdash <command> --help for its options)

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join("\n")}

exit codes: 0 ok, 1 the kernel refused or an apply failed (rolled back), 2 usage error or bad
input (nothing changed), 3 IPVS not loaded, 4 permission denied
`;
}

/** Maps an error to its message and exit code. IpvsError and /proc errors are matched by their fields, not
 *  their classes, so that this file loads none of the kernel modules. */
function failure(e: unknown): { message: string; code: number } {
  const err = e as { name?: string; kind?: string; code?: string; message?: string };
  if (err?.name === "IpvsError") {
    if (err.kind === "not-loaded") return { message: err.message!, code: EXIT.notLoaded };
    if (err.kind === "permission") return { message: err.message!, code: EXIT.permission };
    return { message: err.message!, code: EXIT.failed };
  }
  if (err?.code === "ENOENT" && /\/proc\/net\/ip_vs/.test(err.message ?? "")) return { message: "IPVS is not loaded in this kernel: modprobe ip_vs", code: EXIT.notLoaded };
  if (err?.code === "EACCES" || err?.code === "EPERM") return { message: "permission denied: run as root or grant CAP_NET_ADMIN", code: EXIT.permission };
  return { message: err?.message ?? String(e), code: EXIT.failed };
}

/** Runs one command line; resolves with the exit code. */
export async function runCli(argv: string[], ctx: CliContext = defaultContext()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const topic = name === "help" ? rest[0] : undefined;
    const cmd = topic === undefined ? undefined : COMMANDS[topic];
    (name === undefined ? ctx.io.stderr : ctx.io.stdout)(cmd ? cmd.usage : mainUsage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) {
    ctx.io.stderr(`lvsdash: unknown command "${name}"\n\n${mainUsage()}`);
    return EXIT.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    await ctx.io.stdout(cmd.usage);
    return EXIT.ok;
  }
  try {
    return await (await cmd.load()).run(rest, ctx);
  } catch (e) {
    if (e instanceof CliUsageError) {
      ctx.io.stderr(`lvsdash ${name}: ${e.message}\n\n${cmd.usage}`);
      return EXIT.usage;
    }
    const f = failure(e);
    ctx.io.stderr(`lvsdash ${name}: ${f.message}\n`);
    return f.code;
  }
}

/** The real process: stdout with backpressure (and quiet on a closed pipe), the kernel through server/kernel. */
export function defaultContext(): CliContext {
  return { io: processIo(), kernel: realKernel() };
}

export function processIo(): CliIo {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(EXIT.ok);
    throw e;
  });
  return {
    stdout: (text) => (process.stdout.write(text) ? undefined : new Promise<void>((r) => process.stdout.once("drain", () => r()))),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    readFile: async (path) => (await import("node:fs/promises")).readFile(path, "utf8"),
  };
}

/** This kernel, this network namespace. Each piece is imported when first used. */
export function realKernel(): CliKernel {
  return {
    openClient: async () => (await import("@/server/kernel/genl/ipvs")).openIpvsClient(),
    probeModule: async (m) => (await import("@/server/kernel/modules")).moduleAvailability(m),
    connTable: (file) => ({
      async *[Symbol.asyncIterator]() {
        const { readIpvsConnTable } = await import("@/server/kernel/ipvs-conn");
        yield* readIpvsConnTable({ file });
      },
    }),
    now: Date.now,
  };
}
