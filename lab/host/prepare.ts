// Everything the lab needs before a guest can boot, installed or built once and cached:
//   1. Debian packages (qemu, busybox-static, the oracles ipvsadm/tcpdump/tshark, ...) when missing;
//   2. Debian's own kernel package (linux-image-amd64 -> linux-image-6.1.0-NN-amd64), unpacked with dpkg -x;
//   3. an initramfs of busybox-static, the kernel modules the lab needs, modules.dep and lab/guest/init.sh,
//      rebuilt only when one of those inputs changes (its file name carries a hash of them).
// The cache lives outside the checkout (LVSDASH_LAB_CACHE, default ~/.cache/lvs-dashboard/lab), so a fresh
// clone on the same machine reuses it.
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, copyFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const projectRoot = resolve(import.meta.dirname, "../..");
export const cacheDir = process.env.LVSDASH_LAB_CACHE ?? join(homedir(), ".cache", "lvs-dashboard", "lab");

/** Debian packages the lab uses on the host, and (through the shared root) inside the guest. */
export const labPackages = [
  "qemu-system-x86", "busybox-static", "cpio", "kmod", "ipvsadm", "tcpdump", "tshark", "iproute2",
  "nftables", "hping3", "arping", "libpcap-dev",
];

/** Module folders (relative to lib/modules/VER/kernel) copied into the initramfs (shared/kernel-lab.md). */
const moduleDirs = [
  "net", "lib", "crypto", "arch/x86/crypto", "fs/9p", "fs/netfs", "fs/fscache", "fs/overlayfs", "drivers/virtio",
];
const moduleFiles = ["veth", "dummy", "virtio_net", "net_failover", "macvlan", "tun", "nlmon"].map((m) => `drivers/net/${m}.ko`);

export type Log = (line: string) => void;

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd} could not be started: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}):\n${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  return r.stdout;
}

function installed(pkg: string): boolean {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

export function ensurePackages(log: Log, packages = labPackages): void {
  const missing = packages.filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the lab needs these Debian packages: ${missing.join(" ")}; run as root or apt-get install them`);
  }
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-qq"], { env });
  run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
}

export interface Kernel {
  version: string; // e.g. 6.1.0-56-amd64
  vmlinuz: string;
  moduleRoot: string; // lib/modules/VERSION of the unpacked package
}

/** Fetches and unpacks the kernel linux-image-amd64 currently points at (apt-get download; no install). */
export function ensureKernel(log: Log): Kernel {
  const depends = run("apt-cache", ["depends", "linux-image-amd64"]);
  let pkg = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(depends)?.[1];
  if (!pkg) {
    run("apt-get", ["update", "-qq"]);
    pkg = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(run("apt-cache", ["depends", "linux-image-amd64"]))?.[1];
  }
  if (!pkg) throw new Error("cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64)");
  const version = pkg.replace(/^linux-image-/, "");
  const dir = join(cacheDir, "kernel", version);
  const vmlinuz = join(dir, "boot", `vmlinuz-${version}`);
  const moduleRoot = join(dir, "lib", "modules", version);
  if (!existsSync(join(dir, ".complete"))) {
    log(`fetching Debian kernel package ${pkg}`);
    const dl = join(cacheDir, "download");
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    run("apt-get", ["download", "-q", pkg], { cwd: dl });
    const deb = readdirSync(dl).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    run("dpkg", ["-x", join(dl, deb), dir]);
    rmSync(dl, { recursive: true, force: true });
    writeFileSync(join(dir, ".complete"), `${deb}\n`);
  }
  if (!existsSync(vmlinuz)) throw new Error(`kernel image missing after unpack: ${vmlinuz}`);
  return { version, vmlinuz, moduleRoot };
}

function fileKey(path: string): string {
  const s = statSync(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

/** Builds (or reuses) the initramfs for this kernel; returns its path. */
export function ensureInitramfs(kernel: Kernel, log: Log): string {
  const initScript = join(projectRoot, "lab", "guest", "init.sh");
  const busybox = "/bin/busybox";
  const key = createHash("sha256")
    .update(kernel.version)
    .update(readFileSync(initScript))
    .update(JSON.stringify([moduleDirs, moduleFiles]))
    .update(fileKey(busybox))
    .digest("hex")
    .slice(0, 16);
  const out = join(cacheDir, `initramfs-${kernel.version}-${key}.cpio`);
  if (existsSync(out)) return out;

  log(`building the initramfs for ${kernel.version}`);
  const tree = join(cacheDir, "initramfs-tree");
  rmSync(tree, { recursive: true, force: true });
  for (const d of ["bin", "sbin", "proc", "sys", "dev", "tmp"]) mkdirSync(join(tree, d), { recursive: true });
  copyFileSync(busybox, join(tree, "bin", "busybox"));
  for (const applet of run(busybox, ["--list"]).split("\n")) {
    if (applet && applet !== "busybox") run("ln", ["-s", "busybox", join(tree, "bin", applet)]);
  }
  run("ln", ["-s", "../bin/busybox", join(tree, "sbin", "modprobe")]);
  copyFileSync(initScript, join(tree, "init"));
  run("chmod", ["0755", join(tree, "init")]);

  const modOut = join(tree, "lib", "modules", kernel.version);
  for (const d of moduleDirs) {
    const src = join(kernel.moduleRoot, "kernel", d);
    if (!existsSync(src)) continue; // not every kernel has every folder (e.g. fs/netfs is newer)
    mkdirSync(join(modOut, "kernel", d, ".."), { recursive: true });
    run("cp", ["-a", src, join(modOut, "kernel", d)]);
  }
  for (const f of moduleFiles) {
    const src = join(kernel.moduleRoot, "kernel", f);
    if (!existsSync(src)) continue;
    mkdirSync(join(modOut, "kernel", f, ".."), { recursive: true });
    copyFileSync(src, join(modOut, "kernel", f));
  }
  for (const f of readdirSync(kernel.moduleRoot)) {
    if (f.startsWith("modules.")) copyFileSync(join(kernel.moduleRoot, f), join(modOut, f));
  }
  // The package carries no modules.dep: make it for the subset we ship.
  run("depmod", ["-b", tree, kernel.version]);

  // Uncompressed: the kernel unpacks it faster under emulation than it would gunzip it.
  const tmp = `${out}.tmp`;
  execFileSync("sh", ["-c", `cd "${tree}" && find . | cpio -o -H newc --quiet > "${tmp}"`]);
  renameSync(tmp, out);
  rmSync(tree, { recursive: true, force: true });
  // Drop initramfs images of older inputs.
  for (const f of readdirSync(cacheDir)) {
    if (f.startsWith("initramfs-") && f.endsWith(".cpio") && join(cacheDir, f) !== out) rmSync(join(cacheDir, f));
  }
  return out;
}

export interface LabImage {
  kernel: Kernel;
  initramfs: string;
}

export function prepareLab(log: Log): LabImage {
  mkdirSync(cacheDir, { recursive: true });
  ensurePackages(log);
  const kernel = ensureKernel(log);
  return { kernel, initramfs: ensureInitramfs(kernel, log) };
}
