// What an administrator asks a wizard for: one virtual service (a VIP and its ports) in one forwarding mode,
// its real servers, the director's interfaces, how to verify it with traffic and how long to wait for a
// confirmation. PURE: zod schemas shared by the browser form, the tRPC router and the agent op, so every
// layer refuses the same input with the same field-level message.
//
// Every value that later becomes a word of a shell command or an argv element (interface names, addresses,
// namespace names, HTTP paths) is checked against a strict pattern here: nothing starts with "-" (no option
// injection) and nothing carries a quote, a space, ";", "$", "`" or a newline (no shell injection). The plan
// quotes every word anyway (render.ts); these patterns are the first of the two locks.
import { z } from "zod";

import { SCHEDULERS } from "@/server/ipvs/netlink/constants";
import { parseIPv4 } from "@/server/ipvs/proc/addr";
import { MAX_TIMEOUT } from "@/server/ipvs/rules/model";

export const WIZARD_MODES = ["dr", "nat", "tun", "fullnat"] as const;
export type WizardMode = (typeof WIZARD_MODES)[number];

export const MODE_LABELS: Record<WizardMode, string> = {
  dr: "Direct routing (DR)",
  nat: "NAT (masquerading)",
  tun: "IP-in-IP tunnel (TUN)",
  fullnat: "FULLNAT (mainline stand-in: NAT + nftables SNAT)",
};

/** Linux interface names: 1..15 bytes (IFNAMSIZ - 1), no "/", no whitespace; we also refuse a leading "-"
 *  (it would read as an option) and anything but letters, digits, "_", "." and "-". */
export const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
/** `ip netns` names: a file name in /run/netns. */
export const NETNS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
/** An absolute HTTP path without spaces, quotes, "%" escapes of control bytes or shell metacharacters. */
export const HTTP_PATH_RE = /^\/[A-Za-z0-9_.~/-]{0,200}$/;

export const ipv4 = z
  .string()
  .trim()
  .refine((s) => parseIPv4(s) !== null && /^\d/.test(s), { message: "not an IPv4 address (four numbers 0..255, e.g. 192.0.2.100)" })
  .transform((s) => s.split(".").map(Number).join("."));

/** A unicast host address: not 0.0.0.0, not 255.255.255.255, no multicast, no loopback. */
export const hostIPv4 = ipv4.refine(
  (s) => {
    const first = Number(s.split(".")[0]);
    return s !== "0.0.0.0" && s !== "255.255.255.255" && first !== 127 && first < 224;
  },
  { message: "must be a unicast host address (not 0.0.0.0, loopback, multicast or broadcast)" },
);

export const ifname = z
  .string()
  .trim()
  .refine((s) => IFNAME_RE.test(s) && s !== "." && s !== "..", {
    message: "not an interface name (1-15 letters, digits, '_', '.', '-'; not starting with '-')",
  });

export const port = z
  .number({ message: "a port is a number" })
  .int("a port is a whole number")
  .min(1, "port must be 1..65535")
  .max(65535, "port must be 1..65535");

/** ipvsadm and the site take weights up to 65535 in practice; the kernel would take 2^31-1. */
export const WEIGHT_LIMIT = 65535;

export const realServerInput = z
  .object({
    address: hostIPv4,
    /** Port the real server listens on; only NAT and FULLNAT may map ports. Default: the VIP's port. */
    port: port.optional(),
    weight: z.number().int("weight is a whole number").min(0, `weight must be 0..${WEIGHT_LIMIT}`).max(WEIGHT_LIMIT, `weight must be 0..${WEIGHT_LIMIT}`),
    /** The real server's interface towards the director (its ARP settings, in DR and TUN). */
    interface: ifname.default("eth0"),
  })
  .strict();

export const wizardInput = z
  .object({
    mode: z.enum(WIZARD_MODES),
    vip: hostIPv4,
    ports: z.array(port).min(1, "give at least one port").max(16, "at most 16 ports"),
    protocol: z.enum(["tcp", "udp"]).default("tcp"),
    scheduler: z.enum(SCHEDULERS, { message: `unknown scheduler (known: ${SCHEDULERS.join(" ")})` }).default("wrr"),
    /** ipvsadm -p TIMEOUT -M NETMASK; null = no persistence. */
    persistence: z
      .object({
        timeout: z.number().int().min(1, `timeout must be 1..${MAX_TIMEOUT} s`).max(MAX_TIMEOUT, `timeout must be 1..${MAX_TIMEOUT} s`),
        netmask: ipv4.refine(isNetmask, { message: "not a netmask (e.g. 255.255.255.255)" }).default("255.255.255.255"),
      })
      .strict()
      .nullable()
      .default(null),
    director: z
      .object({
        /** Where the VIP lives and clients come from (DR, TUN: also the real servers' segment). */
        interface: ifname,
        /** NAT, FULLNAT: the interface towards the real servers. */
        innerInterface: ifname.optional(),
        /** FULLNAT: the director's own address on the inner side that real servers will see as the client. */
        snatAddress: hostIPv4.optional(),
      })
      .strict(),
    realServers: z.array(realServerInput).min(1, "add at least one real server").max(64, "at most 64 real servers"),
    verify: z
      .object({
        /** HTTP requests through the VIP after the apply; every real server with a weight must get some. */
        probes: z.number().int().min(1).max(200).default(6),
        /** Send the probes from this network namespace (`ip netns`): a client-side host. Default: the director. */
        fromNetns: z
          .string()
          .refine((s) => NETNS_RE.test(s), { message: "not a network namespace name" })
          .optional(),
        path: z.string().refine((s) => HTTP_PATH_RE.test(s), { message: "an absolute path like /health (letters, digits, _ . ~ / -)" }).default("/"),
      })
      .strict()
      .default({ probes: 6, path: "/" }),
    /** Commit-confirmed: without wizard.confirm within this many seconds the agent rolls everything back. */
    confirmTimeoutSeconds: z.number().int().min(5, "at least 5 s").max(3600, "at most 3600 s").default(60),
  })
  .strict()
  .superRefine((w, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    const natLike = w.mode === "nat" || w.mode === "fullnat";
    w.ports.forEach((p, i) => {
      if (w.ports.indexOf(p) !== i) issue(["ports", i], `port ${p} is listed twice`);
    });
    if (natLike && !w.director.innerInterface) issue(["director", "innerInterface"], `${w.mode.toUpperCase()} needs the director's interface towards the real servers`);
    if (w.mode === "fullnat" && !w.director.snatAddress) issue(["director", "snatAddress"], "FULLNAT needs the director's inner address to source-NAT to");
    if (!natLike && w.director.innerInterface) issue(["director", "innerInterface"], `only NAT and FULLNAT use an inner interface`);
    if (w.mode !== "fullnat" && w.director.snatAddress) issue(["director", "snatAddress"], "only FULLNAT source-NATs");
    const seen = new Set<string>();
    w.realServers.forEach((rs, i) => {
      if (rs.address === w.vip) issue(["realServers", i, "address"], "a real server cannot have the VIP as its address");
      if (rs.port !== undefined) {
        if (!natLike && !w.ports.includes(rs.port)) {
          issue(["realServers", i, "port"], `${w.mode.toUpperCase()} forwards without rewriting ports: leave the port empty or use the VIP's (${w.ports.join(", ")}); only NAT maps ports`);
        } else if (natLike && w.ports.length > 1 && rs.port !== undefined && !w.ports.includes(rs.port)) {
          issue(["realServers", i, "port"], "with several VIP ports a real server keeps each port (leave it empty)");
        }
      }
      const key = `${rs.address}:${rs.port ?? "*"}`;
      if (seen.has(key)) issue(["realServers", i, "address"], `real server ${rs.address} is listed twice`);
      seen.add(key);
    });
    if (w.mode === "fullnat" && w.director.snatAddress === w.vip) issue(["director", "snatAddress"], "the SNAT address must be an inner address, not the VIP");
  });

export type WizardInput = z.output<typeof wizardInput>;
export type WizardInputDraft = z.input<typeof wizardInput>;

function isNetmask(s: string): boolean {
  const n = parseIPv4(s);
  if (n === null) return false;
  const inv = ~n >>> 0;
  return (inv & (inv + 1)) === 0; // ones then zeros
}

/** Field path ("realServers.1.port") -> messages, for a form. */
export type FieldErrors = Record<string, string[]>;

export function fieldErrors(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const i of error.issues) {
    const key = i.path.map(String).join(".") || "(form)";
    (out[key] ??= []).push(i.message);
  }
  return out;
}

/** Parses a draft: the input, or the field errors. */
export function parseWizardInput(draft: unknown): { ok: true; input: WizardInput } | { ok: false; errors: FieldErrors } {
  const r = wizardInput.safeParse(draft);
  return r.success ? { ok: true, input: r.data } : { ok: false, errors: fieldErrors(r.error) };
}

/** The port a real server listens on for a given VIP port. */
export function realServerPort(input: WizardInput, rs: WizardInput["realServers"][number], vipPort: number): number {
  return input.ports.length === 1 ? (rs.port ?? vipPort) : vipPort;
}
