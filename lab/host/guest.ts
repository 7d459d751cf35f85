// Boots the lab guest (Debian's kernel under qemu TCG), runs one shell command in it, brings back its exit
// status, output and files.
//
// Host <-> guest contract (lab/guest/init.sh is the other half): each run gets an io folder, shared read-write
// as 9p tag "labio" and seen in the guest as /lab-io:
//   job.sh        written here: the command, run by /bin/sh in a chroot of this machine's root (overlay)
//   net.env       written here when ports are forwarded: the guest's address on qemu's user network
//   output.log    written by the guest: the command's stdout and stderr, streamed back as it grows
//   exit-status   written by the guest when the command ends
//   init-error    written by the guest when its own setup fails
//   artifacts/    whatever the command puts in $LAB_ARTIFACTS
// The host's root is shared read-only as "hostroot"; the guest runs this machine's own node, npm packages,
// ipvsadm, tcpdump and tshark against the real IPVS kernel. Every run has a time limit: on expiry, or when
// the guest dies, the error carries the tail of the guest console and of the command's output.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LabImage } from "./prepare";
import { projectRoot } from "./prepare";

export interface PortForward {
  hostPort: number; // bound on 127.0.0.1 only
  guestPort: number;
}

export interface GuestRunOptions {
  command: string; // a shell command line, run with cwd = the project root
  timeoutMs: number;
  env?: Record<string, string>;
  forwards?: PortForward[];
  memoryMb?: number;
  cpus?: number;
  onOutput?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface GuestRunResult {
  exitCode: number;
  output: string;
  ioDir: string;
  artifactsDir: string;
  bootMs: number | null; // from qemu start to the guest's "ready" line
  durationMs: number;
}

export class GuestError extends Error {
  constructor(message: string, readonly consoleTail: string, readonly outputTail: string) {
    super(`${message}\n--- guest console (tail) ---\n${consoleTail}\n--- command output (tail) ---\n${outputTail}`);
    this.name = "GuestError";
  }
}

// qemu's user network (slirp) inside a documentation range, so nothing in the lab uses private addresses.
// "restrict=on" cuts the guest off from everything but the forwarded ports.
const slirpNet = "198.51.100.224/27";
export const guestAddress = "198.51.100.239";

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

let runCounter = 0;

export async function runInGuest(image: LabImage, opts: GuestRunOptions): Promise<GuestRunResult> {
  const started = Date.now();
  const id = `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}-${runCounter++}`;
  const ioDir = join(projectRoot, ".lab", "runs", id);
  const artifactsDir = join(ioDir, "artifacts");
  mkdirSync(artifactsDir, { recursive: true });

  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    LANG: "C.UTF-8",
    LAB_GUEST: "1",
    LAB_ARTIFACTS: "/lab-io/artifacts",
    ...opts.env,
  };
  // Every node process in the guest loads lab/guest/node-wasm-flags.cjs first (why: that file), children too.
  env.NODE_OPTIONS = [`--require ${join(projectRoot, "lab/guest/node-wasm-flags.cjs")}`, env.NODE_OPTIONS].filter(Boolean).join(" ");
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n");
  writeFileSync(join(ioDir, "job.sh"), `${exports}\ncd ${shellQuote(projectRoot)} || exit 97\n${opts.command}\n`);

  const forwards = opts.forwards ?? [];
  const netArgs: string[] = [];
  if (forwards.length > 0) {
    const fwd = forwards.map((f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-${guestAddress}:${f.guestPort}`).join("");
    netArgs.push("-netdev", `user,id=n0,net=${slirpNet},restrict=on${fwd}`, "-device", "virtio-net-pci,netdev=n0");
    writeFileSync(join(ioDir, "net.env"), `GUEST_ADDR=${guestAddress}/27\n`);
  } else {
    netArgs.push("-nic", "none");
  }

  const args = [
    "-accel", "tcg", "-cpu", "max", "-smp", String(opts.cpus ?? 2), "-m", String(opts.memoryMb ?? 3072),
    "-nographic", "-no-reboot",
    "-kernel", image.kernel.vmlinuz, "-initrd", image.initramfs,
    "-append", "console=ttyS0 quiet loglevel=3 panic=-1",
    "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    "-virtfs", `local,path=${ioDir},mount_tag=labio,security_model=none`,
    ...netArgs,
  ];

  const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
  let consoleText = "";
  let bootMs: number | null = null;
  const onConsole = (b: Buffer) => {
    consoleText = (consoleText + b.toString("utf8")).slice(-64_000);
    if (bootMs === null && consoleText.includes("lab-init: ready")) bootMs = Date.now() - started;
  };
  qemu.stdout.on("data", onConsole);
  qemu.stderr.on("data", onConsole);

  // Stream output.log as the guest writes it (9p writes reach the host file directly).
  const outputPath = join(ioDir, "output.log");
  let outputOffset = 0;
  let outputText = "";
  const pump = () => {
    if (!existsSync(outputPath)) return;
    const fd = openSync(outputPath, "r");
    try {
      const buf = Buffer.alloc(1 << 16);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, outputOffset);
        if (n <= 0) break;
        outputOffset += n;
        const chunk = buf.subarray(0, n).toString("utf8");
        outputText = (outputText + chunk).slice(-256_000);
        opts.onOutput?.(chunk);
      }
    } finally {
      closeSync(fd);
    }
  };
  const poller = setInterval(pump, 250);

  let killedFor: string | null = null;
  const kill = (why: string) => {
    if (killedFor) return;
    killedFor = why;
    qemu.kill("SIGTERM");
    setTimeout(() => qemu.kill("SIGKILL"), 3000).unref();
  };
  const timer = setTimeout(() => kill(`the guest run exceeded its time limit of ${Math.round(opts.timeoutMs / 1000)} s`), opts.timeoutMs);
  const onAbort = () => kill("the guest run was cancelled");
  opts.signal?.addEventListener("abort", onAbort);

  const qemuExit = await new Promise<number | null>((resolveExit, rejectExit) => {
    qemu.on("error", (e) => rejectExit(new Error(`qemu-system-x86_64 could not be started: ${e.message}`)));
    qemu.on("exit", (code) => resolveExit(code));
  }).finally(() => {
    clearTimeout(timer);
    clearInterval(poller);
    opts.signal?.removeEventListener("abort", onAbort);
  });
  pump();

  const statusFile = join(ioDir, "exit-status");
  const initError = join(ioDir, "init-error");
  if (killedFor) throw new GuestError(killedFor, tail(consoleText), tail(outputText));
  if (existsSync(initError)) {
    throw new GuestError(`the guest failed to set up: ${readFileSync(initError, "utf8").trim()}`, tail(consoleText), tail(outputText));
  }
  if (!existsSync(statusFile)) {
    throw new GuestError(`the guest stopped (qemu exit ${qemuExit}) before the command finished`, tail(consoleText), tail(outputText));
  }
  return {
    exitCode: Number.parseInt(readFileSync(statusFile, "utf8").trim(), 10),
    output: outputText,
    ioDir,
    artifactsDir,
    bootMs,
    durationMs: Date.now() - started,
  };
}
