// Shared by test/kernel/wizard.test.ts and its fault child: the oracle that says whether a director is "exactly
// as before" (what ipvsadm-save -n, ip addr, ip route, the relevant sysctls and nft list ruleset print), and
// the wizard input for each mode on a bare lab site (lab/site, `bare: true`).
import type { Mode } from "@/lab/site/spec";
import type { WizardInputDraft } from "@/server/wizards/input";

/** Run with `sh -ec` inside the director's namespace. */
export const DIRECTOR_ORACLE = [
  "ipvsadm-save -n",
  "echo '--- addr'",
  "ip -4 -o addr show | sed 's/ *valid_lft.*//'",
  "echo '--- route'",
  "ip -4 route show table all",
  "echo '--- sysctl'",
  "sysctl net.ipv4.ip_forward net.ipv4.vs.conntrack net.ipv4.conf.all.rp_filter net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce",
  "echo '--- nft'",
  "nft list ruleset",
].join("\n");

export function labWizardInput(mode: Mode, site: string, confirmTimeoutSeconds = 60): WizardInputDraft {
  const natLike = mode === "nat" || mode === "fullnat";
  const rip = (n: number) => (natLike ? `198.51.100.1${n}` : `192.0.2.1${n}`);
  return {
    mode,
    vip: "192.0.2.100",
    ports: [80],
    protocol: "tcp",
    scheduler: "wrr",
    director: { interface: "eth0", ...(natLike ? { innerInterface: "eth1" } : {}), ...(mode === "fullnat" ? { snatAddress: "198.51.100.1" } : {}) },
    realServers: [
      { address: rip(1), weight: 1, interface: "eth0" },
      { address: rip(2), weight: 2, interface: "eth0" },
    ],
    verify: { probes: 6, fromNetns: `${site}-client`, path: "/" },
    confirmTimeoutSeconds,
  };
}

/** Run with `sh -ec` inside a real server's namespace: everything a wizard's real-server steps may touch. */
export const REAL_SERVER_ORACLE = [
  "ip -4 -o addr show | sed 's/ *valid_lft.*//'",
  "echo '--- route'",
  "ip -4 route show table main",
  "echo '--- link'",
  "ip -o link show | sed 's/ qlen.*//; s/link\\/.*//'",
  "echo '--- sysctl'",
  "sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce net.ipv4.conf.eth0.arp_ignore net.ipv4.conf.eth0.arp_announce net.ipv4.conf.all.rp_filter net.ipv4.ip_forward",
  "if [ -e /proc/sys/net/ipv4/conf/tunl0 ]; then sysctl net.ipv4.conf.tunl0.rp_filter; fi",
].join("\n");
