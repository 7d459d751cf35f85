// The lab's command line (see lab/README.md):
//   tsx lab/host/cli.ts prepare                      install packages, fetch the kernel, build the initramfs
//   tsx lab/host/cli.ts run [--timeout S] [--forward HOST:GUEST] -- CMD...
//                                                    run CMD as root in the guest, cwd = this checkout
//   tsx lab/host/cli.ts test [VITEST ARGS...]        the real-kernel suite (test/kernel) in the guest
//   tsx lab/host/cli.ts demo                         npm run lab: a DR site + the dashboard on 127.0.0.1:3000
//   tsx lab/host/cli.ts record                       replay every mode x fault into test/fixtures/
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GuestError, runInGuest, type GuestRunOptions } from "./guest";
import { prepareLab, projectRoot } from "./prepare";

const log = (line: string) => process.stderr.write(`[lab] ${line}\n`);

function seconds(ms: number | null): string {
  return ms === null ? "?" : `${(ms / 1000).toFixed(1)} s`;
}

async function guest(opts: Omit<GuestRunOptions, "onOutput" | "signal">): Promise<{ exitCode: number; artifactsDir: string }> {
  const t0 = Date.now();
  const image = prepareLab(log);
  log(`lab ready in ${seconds(Date.now() - t0)} (kernel ${image.kernel.version}); booting the guest`);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const r = await runInGuest(image, { ...opts, onOutput: (c) => process.stdout.write(c), signal: abort.signal });
    log(`guest boot ${seconds(r.bootMs)}, whole run ${seconds(r.durationMs)}, exit ${r.exitCode}`);
    if (readdirSync(r.artifactsDir).length > 0) log(`artifacts: ${r.artifactsDir}`);
    return r;
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

function parseRunArgs(argv: string[]): { timeoutS: number; forwards: { hostPort: number; guestPort: number }[]; command: string[] } {
  let timeoutS = 600;
  const forwards: { hostPort: number; guestPort: number }[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") { i++; break; }
    if (a === "--timeout") timeoutS = Number(argv[++i]);
    else if (a === "--forward") {
      const [h, g] = (argv[++i] ?? "").split(":").map(Number);
      if (!h || !g) throw new Error("--forward wants HOSTPORT:GUESTPORT");
      forwards.push({ hostPort: h, guestPort: g });
    } else break;
  }
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error("--timeout wants seconds");
  return { timeoutS, forwards, command: argv.slice(i) };
}

function quote(args: string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/**
 * Copies each completed recording (the recorder writes note.md last) into test/fixtures/lab/, even when a
 * later case failed, and adds tshark's expert info: the oracle the diagnostics are compared with (run here:
 * tshark starts slowly under emulation, and its output depends only on the file).
 */
function keepRecordings(recorded: string): void {
  if (!existsSync(recorded)) return;
  for (const name of readdirSync(recorded)) {
    if (!existsSync(join(recorded, name, "note.md"))) {
      log(`not kept: ${name} (incomplete)`);
      continue;
    }
    const dest = join(projectRoot, "test", "fixtures", "lab", name);
    rmSync(dest, { recursive: true, force: true });
    cpSync(join(recorded, name), dest, { recursive: true });
    const expert = spawnSync("tshark", ["-r", join(dest, "lan.pcap"), "-q", "-z", "expert"], { encoding: "utf8" });
    writeFileSync(join(dest, "tshark-expert.txt"), expert.stdout);
    log(`recorded test/fixtures/lab/${name}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case "prepare": {
      const t0 = Date.now();
      const image = prepareLab(log);
      log(`ready in ${seconds(Date.now() - t0)}: kernel ${image.kernel.vmlinuz}, initramfs ${image.initramfs}`);
      return 0;
    }
    case "run": {
      const { timeoutS, forwards, command } = parseRunArgs(rest);
      if (command.length === 0) throw new Error("usage: run [--timeout S] [--forward H:G] -- CMD...");
      return (await guest({ command: quote(command), timeoutMs: timeoutS * 1000, forwards })).exitCode;
    }
    case "test": {
      // vitest itself, not npx: every process start costs seconds under emulation.
      const command = `node node_modules/vitest/vitest.mjs run -c vitest.kernel.config.ts ${quote(rest)}`;
      return (await guest({ command, timeoutMs: 35 * 60_000, env: { CI: "1" } })).exitCode;
    }
    case "demo": {
      const hostPort = Number(process.env.LVSDASH_LAB_PORT ?? 3000);
      log(`starting the demo site; the dashboard will be on http://127.0.0.1:${hostPort} (Ctrl-C stops everything)`);
      const r = await guest({
        command: "node node_modules/tsx/dist/cli.mjs lab/demo.ts",
        timeoutMs: 24 * 3600_000,
        forwards: [{ hostPort, guestPort: 3000 }],
        env: { LVSDASH_LAB_PORT: String(hostPort) },
      });
      return r.exitCode;
    }
    case "record": {
      const r = await guest({ command: `node node_modules/tsx/dist/cli.mjs lab/recorder/record.ts ${quote(rest)}`, timeoutMs: 40 * 60_000 });
      keepRecordings(join(r.artifactsDir, "fixtures"));
      return r.exitCode;
    }
    default:
      process.stderr.write("usage: cli.ts prepare | run [--timeout S] [--forward H:G] -- CMD... | test [ARGS] | demo | record\n");
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof GuestError) log(e.message);
    else log(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
