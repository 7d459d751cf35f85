// Runs inside one network namespace (`ip netns exec NS node --import tsx lab/recorder/host-facts.ts ...`) and
// prints that namespace's HostFacts as JSON (server/kernel/sysctl.ts readHostFacts): used by the sysctl recorder
// (sysctls.ts here) and the real-kernel test test/kernel/sysctls.test.ts.
//   host-facts.ts [NAME]                       the facts
//   host-facts.ts --write KEY IFACE|- VALUE    writeSysctl(KEY, IFACE, VALUE), then the facts
import { readHostFacts, writeSysctl, type ConfSysctl, type GlobalSysctl } from "@/server/kernel/sysctl";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "--write") {
    const [, key, iface, value] = args;
    if (key === undefined || iface === undefined || value === undefined) throw new Error("usage: --write KEY IFACE|- VALUE");
    await writeSysctl(key as ConfSysctl | GlobalSysctl, iface === "-" ? undefined : iface, Number(value));
    args.splice(0, 4);
  }
  process.stdout.write(`${JSON.stringify(await readHostFacts(args[0]))}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`host-facts: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
  process.exit(1);
});
