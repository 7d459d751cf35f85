// Is a kernel module available, without loading it? Used to validate an IPVS scheduler (ip_vs_<name>) or
// persistence engine (ip_vs_pe_<name>) before anything is changed: the kernel itself only tells by refusing
// NEW_SERVICE with ENOENT, after earlier changes of the same apply went in.
//
// Reads what modprobe reads, no process started: /sys/module/<name> (loaded, or built in with parameters),
// then /lib/modules/<release>/modules.builtin and modules.dep (built in, or a file modprobe can load; any
// compression suffix). When the module tree is not there (a container without /lib/modules), the answer is
// "unknown" and the kernel's own answer decides.
import { access, readFile } from "node:fs/promises";

export type ModuleAvailability = "loaded" | "builtin" | "loadable" | "missing" | "unknown";

export interface ModuleProbeOptions {
  /** Default "/": the root the /sys and /lib/modules paths are read under. */
  root?: string;
  /** Default: /proc/sys/kernel/osrelease. */
  release?: string;
}

/** Module names use "_" where file names may use "-" (modprobe treats them alike). */
const norm = (name: string) => name.replaceAll("-", "_");

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The module names a modules.dep or modules.builtin text lists ("kernel/net/.../ip_vs_rr.ko.xz: ..."). */
export function moduleNamesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const path = line.split(":", 1)[0]!.trim();
    if (!path) continue;
    const m = /([^/]+)\.ko(?:\.[a-z0-9]+)?$/.exec(path);
    if (m) names.add(norm(m[1]!));
  }
  return names;
}

export async function moduleAvailability(name: string, opts: ModuleProbeOptions = {}): Promise<ModuleAvailability> {
  const root = (opts.root ?? "/").replace(/\/?$/, "/");
  const want = norm(name);
  if (!/^[A-Za-z0-9_]+$/.test(want)) return "missing";
  if (await exists(`${root}sys/module/${want}`)) return "loaded";
  let release = opts.release;
  try {
    release ??= (await readFile(`${root}proc/sys/kernel/osrelease`, "utf8")).trim();
  } catch {
    return "unknown";
  }
  const dir = `${root}lib/modules/${release}/`;
  const read = (f: string) => readFile(dir + f, "utf8").then((t) => t, () => undefined);
  const [builtin, dep] = await Promise.all([read("modules.builtin"), read("modules.dep")]);
  if (builtin !== undefined && moduleNamesIn(builtin).has(want)) return "builtin";
  if (dep === undefined) return "unknown";
  return moduleNamesIn(dep).has(want) ? "loadable" : "missing";
}
