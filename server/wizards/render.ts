// A plan for people: as a diff of each machine ("+ address 192.0.2.100/32 on eth0") and as the shell commands
// that would make the same change (ip, sysctl, ipvsadm, nft), which is also the script a real server's
// administrator runs. PURE.
//
// Every value in a plan passed the patterns of input.ts; each word is still quoted here for sh, and each
// command puts its values after the option they belong to, never where a "-x" could read as an option.
import { stepRule } from "@/server/ipvs/apply/plan";

import type { DirectorStep, RealServerPlan, RealServerStep, WizardPlan } from "./plan";

export interface DiffLine {
  op: "+" | "-" | "~";
  text: string;
}

/** Quotes a word for POSIX sh: plain words stay as they are, anything else goes in single quotes. */
export function shq(word: string): string {
  return /^[A-Za-z0-9_.,:/=+@%^-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command from a template: the literal parts are ours; every interpolated value is quoted, and refused when
 *  it is empty or starts with "-" (quoting does not stop a program from reading "-x" as an option). */
export function sh(literals: TemplateStringsArray, ...values: string[]): string {
  let out = literals[0] ?? "";
  values.forEach((v, i) => {
    if (v === "" || v.startsWith("-")) throw new Error(`refused value for a shell command: ${JSON.stringify(v)}`);
    out += shq(v) + (literals[i + 1] ?? "");
  });
  return out;
}

/** ipvsadm's own rule text ("-A -t 192.0.2.100:80 -s wrr"): its options, then validated values. */
function ipvsadmCommand(rule: string): string {
  return ["ipvsadm", ...rule.split(" ").filter(Boolean)].map((w) => (/^-{1,2}[a-z][a-z-]*$/.test(w) ? w : shq(w))).join(" ");
}

/** nft's text syntax of the FULLNAT SNAT table (the agent sends the same as JSON, nft.ts). */
export function nftSnatText(s: Extract<DirectorStep, { kind: "nft-snat" }>): string {
  return [
    `table ip ${s.table} {`,
    "  chain postrouting {",
    "    type nat hook postrouting priority srcnat; policy accept;",
    `    oifname "${s.oifname}" ip daddr { ${s.daddrs.join(", ")} } snat to ${s.snatTo}`,
    "  }",
    "}",
  ].join("\n");
}

export function directorStepTitle(s: DirectorStep): string {
  switch (s.kind) {
    case "sysctl":
      return `sysctl ${s.key}: ${s.before ?? "(missing)"} -> ${s.value}`;
    case "address":
      return `address ${s.address}/${s.prefixLen} on ${s.ifname}`;
    case "nft-snat":
      return `nftables table ip ${s.table}: SNAT to ${s.snatTo} out of ${s.oifname}`;
    case "ipvs":
      return `IPVS ${stepRule(s.step)}`;
  }
}

export function directorStepDiff(s: DirectorStep): DiffLine {
  switch (s.kind) {
    case "sysctl":
      return { op: "~", text: `${s.key} = ${s.before ?? "(missing)"} -> ${s.value}` };
    case "address":
      return { op: "+", text: `${s.ifname}: inet ${s.address}/${s.prefixLen}` };
    case "nft-snat":
      return { op: "+", text: `nft: table ip ${s.table} (oifname ${s.oifname} ip daddr {${s.daddrs.join(", ")}} snat to ${s.snatTo})` };
    case "ipvs": {
      const rule = stepRule(s.step);
      const op = s.step.op.startsWith("delete") ? "-" : s.step.op.startsWith("add") || s.step.op === "start-daemon" ? "+" : "~";
      return { op, text: `ipvs: ${rule}` };
    }
  }
}

export function directorStepShell(s: DirectorStep): string {
  switch (s.kind) {
    case "sysctl":
      return sh`sysctl -w ${`${s.key}=${s.value}`}`;
    case "address":
      return sh`ip address add ${`${s.address}/${s.prefixLen}`} dev ${s.ifname}`;
    case "nft-snat":
      return `nft -f - <<'EOF'\n${nftSnatText(s)}\nEOF`;
    case "ipvs":
      return ipvsadmCommand(stepRule(s.step));
  }
}

function realServerStepShell(s: RealServerStep): string {
  switch (s.kind) {
    case "sysctl":
      return sh`sysctl -w ${`${s.key}=${s.value}`}`;
    case "address":
      // replace: running the script twice is harmless
      return sh`ip address replace ${`${s.address}/${s.prefixLen}`} dev ${s.ifname}`;
    case "link-up":
      return sh`ip link set dev ${s.ifname} up`;
    case "module":
      return sh`modprobe ${s.name}`;
    case "default-route":
      return sh`ip route replace default via ${s.via}`;
  }
}

function realServerStepDiff(s: RealServerStep): DiffLine {
  switch (s.kind) {
    case "sysctl":
      return { op: "~", text: `${s.key} -> ${s.value}` };
    case "address":
      return { op: "+", text: `${s.ifname}: inet ${s.address}/${s.prefixLen}` };
    case "link-up":
      return { op: "~", text: `${s.ifname}: up` };
    case "module":
      return { op: "+", text: `module ${s.name}` };
    case "default-route":
      return { op: "~", text: `default route via ${s.via}` };
  }
}

/** The script an administrator runs as root on a real server (idempotent). */
export function realServerScript(rs: RealServerPlan): string {
  const lines = ["#!/bin/sh", `# lvs-dashboard wizard: real server ${rs.address}`, `# ${rs.note}`, "set -e"];
  if (rs.steps.length === 0) lines.push("# nothing to change");
  lines.push(...rs.steps.map(realServerStepShell));
  return lines.join("\n") + "\n";
}

export interface RenderedPlan {
  director: { title: string; diff: DiffLine; shell: string }[];
  directorScript: string;
  /** Each real server's steps (what its paired agent applies, rs.apply), as a diff and as its admin's script. */
  realServers: { address: string; note: string; steps: RealServerStep[]; diff: DiffLine[]; script: string }[];
  notes: string[];
  fingerprint: string;
}

export function renderPlan(plan: WizardPlan): RenderedPlan {
  const director = plan.director.map((s) => ({ title: directorStepTitle(s), diff: directorStepDiff(s), shell: directorStepShell(s) }));
  return {
    director,
    directorScript: ["#!/bin/sh", "# lvs-dashboard wizard: director (the agent applies these itself, with rollback)", "set -e", ...director.map((d) => d.shell)].join("\n") + "\n",
    realServers: plan.realServers.map((rs) => ({ address: rs.address, note: rs.note, steps: rs.steps, diff: rs.steps.map(realServerStepDiff), script: realServerScript(rs) })),
    notes: plan.notes,
    fingerprint: plan.fingerprint,
  };
}
