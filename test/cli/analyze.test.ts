// lvsdash analyze over the real DR captures (shared/cases/dr, copied to test/fixtures/cases/dr): the finding
// an admin reads, the rules and MACs that sharpen it, and the usage errors.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "@/server/cli/main";
import type { CliKernel } from "@/server/cli/context";
import { captureIo } from "./io";

const pcap = (name: string) => fileURLToPath(new URL(`../fixtures/cases/dr/${name}`, import.meta.url));
const rules = [
  "-A -t 192.0.2.100:80 -s wrr",
  "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 1",
  "-a -t 192.0.2.100:80 -r 192.0.2.12:80 -g -w 2",
  "",
].join("\n");
const noKernel: CliKernel = {
  openClient: () => Promise.reject(new Error("analyze --rules must not touch the kernel")),
  probeModule: async () => "loadable",
  connTable: () => { throw new Error("not used"); },
  now: () => 0,
};

async function analyze(args: string[]) {
  const io = captureIo({ "dr.rules": rules });
  const code = await runCli(["analyze", "--rules", "dr.rules", ...args], { io, kernel: noKernel });
  return { code, out: io.out, err: io.err };
}

const site = ["--director", "192.0.2.1@02:00:00:00:00:01", "--mac", "192.0.2.11@02:00:00:00:00:11", "--mac", "192.0.2.12@02:00:00:00:00:12"];

describe("lvsdash analyze", () => {
  it("names rs2 answering ARP for the VIP, with the frames and the sysctl fix", async () => {
    const r = await analyze([...site, pcap("dr-arp-conflict.pcap")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("[CRITICAL] Real server 192.0.2.12 (02:00:00:00:00:12) answers ARP for VIP 192.0.2.100");
    // tcpdump -r dr-arp-conflict.pcap: rs2's "is-at" replies are frames 2, 48, 93, 138 and 183
    expect(r.out).toContain("evidence: frames 2, 48, 93, 138, 183");
    expect(r.out).toMatch(/sysctl -w net\.ipv4\.conf\.all\.arp_ignore=1 net\.ipv4\.conf\.all\.arp_announce=2/);
  });

  it("without the real servers' MACs it still flags the foreign answer, as an unknown host", async () => {
    const r = await analyze(["--director", "192.0.2.1@02:00:00:00:00:01", pcap("dr-arp-conflict.pcap")]);
    expect(r.out).toContain("[CRITICAL] Unknown host 02:00:00:00:00:12 answers ARP for VIP 192.0.2.100");
  });

  it("finds nothing wrong in the healthy capture", async () => {
    expect(await analyze([...site, pcap("dr-healthy.pcap")])).toEqual({
      code: 0,
      out: `${pcap("dr-healthy.pcap")}: 490 packets, 490 decoded\nno problem found\n`,
      err: "",
    });
  });

  it("--json gives the findings for scripts", async () => {
    const r = await analyze([...site, "--json", pcap("dr-arp-conflict.pcap")]);
    const json = JSON.parse(r.out) as { findings: { hosts: { ip: string; role: string }[] }[]; stats: { packets: number } };
    expect(json.stats.packets).toBe(226);
    expect(json.findings.map((f) => f.hosts.find((h) => h.role === "real-server")?.ip)).toEqual(["192.0.2.12"]);
  });

  it("refuses a malformed --mac and a missing file argument with exit 2", async () => {
    expect((await analyze(["--mac", "192.0.2.12", pcap("dr-healthy.pcap")])).code).toBe(2);
    expect((await analyze(["--mac", "192.0.2.12@zz", pcap("dr-healthy.pcap")])).code).toBe(2);
    expect((await analyze([])).code).toBe(2);
  });
});
