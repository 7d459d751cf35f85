// npm run bench:dashboard — runs bench/dashboard/run.ts in the lab guest (one run: the tick against
// `ipvsadm -Ln --stats`, memory over a 1 Hz run, the 7-day history query), streaming its output; the results
// land in the run's artifacts folder (bench-dashboard.json), which the lab CLI prints.
// Arguments after `--` go to run.ts, e.g. `npm run bench:dashboard -- --duration 120` for a shorter memory run.
import { spawn } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dirname, "../..");
const dash = process.argv.indexOf("--");
const guestArgs = dash >= 0 ? process.argv.slice(dash + 1) : [];
const d = guestArgs.indexOf("--duration");
const durationS = d >= 0 ? Number(guestArgs[d + 1]) : 600;
// the memory run, plus loading the table, starting the agent, writing a week of history and part a
const timeoutS = Math.ceil(durationS + 900);

const child = spawn(
  process.execPath,
  ["node_modules/tsx/dist/cli.mjs", "lab/host/cli.ts", "run", "--timeout", String(timeoutS), "--", "node", "--import", "tsx", "bench/dashboard/run.ts", ...guestArgs],
  { cwd: root, stdio: "inherit" },
);
child.on("exit", (code) => process.exit(code ?? 1));
