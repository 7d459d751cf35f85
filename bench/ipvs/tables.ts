// The benchmark's virtual service table, as ipvsadm-restore input (shared by run.ts and profile.ts).

/** ipvsadm-restore input: n TCP services (198.51.100.1-250, ports from 1000) x 4 real servers (-g). */
export function servicesRules(n: number, reals = 4): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const vip = `198.51.100.${1 + (i % 250)}:${1000 + Math.floor(i / 250)}`;
    out.push(`-A -t ${vip} -s wlc`);
    for (let r = 0; r < reals; r++) out.push(`-a -t ${vip} -r 192.0.2.${11 + r}:${1000 + Math.floor(i / 250)} -g -w 1`);
  }
  return `${out.join("\n")}\n`;
}
