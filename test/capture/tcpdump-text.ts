// Helpers for tests that hold frames as tcpdump prints them (`tcpdump -nn -e -XX`), and that ask the real
// tools (tcpdump, tshark) when this machine has them.

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

export interface DumpedFrame {
  /** tcpdump's one-line summary. */
  summary: string;
  bytes: Uint8Array;
}

/** Splits `tcpdump -XX` output into frames: each summary line followed by its "0x0000:  ffff ..." lines. */
export function framesFromTcpdump(text: string): DumpedFrame[] {
  const frames: DumpedFrame[] = [];
  let hex = "";
  let summary: string | null = null;
  const flush = () => {
    if (summary !== null) frames.push({ summary, bytes: Uint8Array.from(Buffer.from(hex, "hex")) });
  };
  for (const line of text.split("\n")) {
    const m = /^\s*0x[0-9a-f]{4}:\s\s(.*?)(?:\s\s|$)/.exec(line);
    if (m !== null) {
      hex += m[1]!.replace(/ /g, "");
    } else if (line.trim() !== "") {
      flush();
      summary = line.trim();
      hex = "";
    }
  }
  flush();
  return frames;
}

/** The one frame in a `tcpdump -XX` excerpt. */
export function frameFromTcpdump(text: string): Uint8Array {
  const frames = framesFromTcpdump(text);
  if (frames.length !== 1) throw new Error(`expected one frame, got ${frames.length}`);
  return frames[0]!.bytes;
}

/** Whether a tool is installed. LVS_TEST_WITHOUT_TOOLS=1 pretends none is, to run the recorded-output path. */
export function hasTool(name: string): boolean {
  if (process.env.LVS_TEST_WITHOUT_TOOLS === "1") return false;
  return ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"].some((d) => existsSync(`${d}/${name}`));
}

/** Runs a tool and returns its stdout (stderr discarded). */
export function run(tool: string, args: string[]): string {
  return execFileSync(tool, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 256 << 20 });
}

export const root = new URL("../../", import.meta.url).pathname;

/** The real captures the tests read. */
export const CAPTURES = {
  "dr-healthy": `${root}test/fixtures/cases/dr/dr-healthy.pcap`,
  "dr-arp-conflict": `${root}test/fixtures/cases/dr/dr-arp-conflict.pcap`,
  "lab-frames": `${root}test/capture/fixtures/lab-frames.pcap`,
};

/** `tcpdump -nn -e -tt -r` of a capture: run now if installed, else as recorded by make-tcpdump-text.sh. */
export function tcpdumpLines(name: keyof typeof CAPTURES): string[] {
  const recorded = readFileSync(`${root}test/capture/fixtures/tcpdump/${name}.txt`, "utf8");
  const text = hasTool("tcpdump") ? run("tcpdump", ["-nn", "-e", "-tt", "-r", CAPTURES[name]]) : recorded;
  return text.split("\n").filter((l) => l !== "");
}

