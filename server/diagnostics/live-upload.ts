// Offline analysis of an uploaded capture, as `lvsdash analyze` does it (analyzePcap: the same decoders and
// detectors), plus each finding's evidence packets cut out as a small pcap. It runs in a worker thread of the
// web server (live-upload-worker.ts): an upload of 64 MB is seconds of decoding that must not stall the pages,
// and the bytes come from a browser, so they are parsed in the unprivileged web server, never in the agent.
// The worker resolves tsx from the working directory: the project's (server/main.ts starts the web server there).
//
//   const result = await analyzeUploadInWorker(bytes, { site });            // the director's own site
//   const result = await analyzeUploadInWorker(bytes, { rules: ipvsadmSaveText });   // another director's
//
// analyzeUpload() is the same in the calling thread (tests).
import { join } from "node:path";
import { Worker } from "node:worker_threads";

import { PcapFormatError } from "@/server/capture/pcapfile/format";
import { readPcap, recordTime } from "@/server/capture/pcapfile/reader";
import { encodePcap, type PcapPacket } from "@/server/capture/pcapfile/writer";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";

import { analyzePcap, findingKind, type AnalyzeStats } from "./analyze";
import { siteContextFromRules } from "./context";
import type { EvidencePacketView } from "./live";
import type { Finding, SiteContext } from "./types";

export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** Evidence packets cut out per finding. */
const MAX_EVIDENCE_PACKETS = 40;

export interface UploadFinding extends Finding {
  kind: string;
  evidencePackets: EvidencePacketView[];
  /** The evidence packets as a pcap file. */
  pcapBase64: string;
}

export interface UploadAnalysis {
  stats: AnalyzeStats;
  findings: UploadFinding[];
  /** What the site was taken from. */
  siteSource: "agent" | "rules";
  vips: string[];
  seconds: number;
}

/** Where the VIPs and real servers come from: the agent's IPVS table, or pasted `ipvsadm-save -n` text. */
export type UploadSite = { site: SiteContext } | { rules: string };

/** A problem with what was uploaded (not a pcap, rules that do not load): the message says what to do. */
export class UploadError extends Error {
  override name = "UploadError";
}

function siteOf(source: UploadSite): SiteContext {
  if ("site" in source) return source.site;
  const { table, errors } = loadIpvsadmRules(source.rules);
  if (errors.length > 0) {
    throw new UploadError(`the rules do not load (${errors.slice(0, 3).map((e) => `line ${e.line}: ${e.message}`).join("; ")}): paste what ipvsadm-save -n prints`);
  }
  return siteContextFromRules(table, { directors: [] });
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

export async function analyzeUpload(bytes: Uint8Array, source: UploadSite): Promise<UploadAnalysis> {
  const t0 = performance.now();
  const site = siteOf(source);
  let result;
  try {
    result = await analyzePcap(once(bytes), site);
  } catch (error) {
    if (error instanceof PcapFormatError) throw new UploadError(error.message);
    throw error;
  }
  // A second pass cuts out the evidence: the packets of every finding, by their number in the file.
  const wanted = new Map<number, PcapPacket>();
  for (const f of result.findings) for (const e of f.evidence.slice(0, MAX_EVIDENCE_PACKETS)) wanted.set(e.packetIndex, { data: new Uint8Array(0), tsSec: 0, tsNsec: 0 });
  if (wanted.size > 0) {
    await readPcap(once(bytes), (r) => {
      if (!wanted.has(r.index)) return;
      wanted.set(r.index, { data: r.buf.slice(r.offset, r.offset + r.caplen), tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen });
    });
  }
  const findings = result.findings.map((f): UploadFinding => {
    const packets = f.evidence.slice(0, MAX_EVIDENCE_PACKETS).map((e) => e.packetIndex).sort((a, b) => a - b);
    const pcap = encodePcap(packets.map((i) => wanted.get(i)!).filter((p) => p.data.length > 0));
    return {
      ...f, kind: findingKind(f),
      evidencePackets: packets.map((i) => ({ number: i + 1, time: recordTime(wanted.get(i)!) })),
      pcapBase64: Buffer.from(pcap.buffer, pcap.byteOffset, pcap.byteLength).toString("base64"),
    };
  });
  return {
    stats: result.stats, findings, siteSource: "site" in source ? "agent" : "rules", vips: site.vips.map((v) => v.address),
    seconds: (performance.now() - t0) / 1000,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------------------

export type WorkerReply = { ok: true; result: UploadAnalysis } | { ok: false; upload: boolean; message: string };

/** The worker's entry, found from the project directory (the web server runs there: server/main.ts). */
const ENTRY = "server/diagnostics/live-upload-worker.ts";

/**
 * The worker's first lines: the web server runs Next's compiled code, not TypeScript, so the worker loads tsx
 * (as server/main.ts is run) and then the TypeScript entry. Given as code, not as a file: a bundler that sees
 * `new Worker(file)` bundles that file, and tsx must not be bundled.
 */
const BOOT = `const { workerData } = require("node:worker_threads");
import("tsx/esm/api").then(({ register }) => { register(); return import(workerData.entry); });`;

/** Runs analyzeUpload in a worker thread; `bytes` is handed over (transferred), not copied. */
export function analyzeUploadInWorker(bytes: Uint8Array, source: UploadSite, options: { timeoutMs?: number; projectDir?: string } = {}): Promise<UploadAnalysis> {
  const dir = options.projectDir ?? process.cwd();
  return new Promise((resolve, reject) => {
    const worker = new Worker(BOOT, { eval: true, workerData: { entry: join(dir, ENTRY) } });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new UploadError(`the analysis took longer than ${(options.timeoutMs ?? 120_000) / 1000} s: analyse the file with lvsdash analyze on the director`));
    }, options.timeoutMs ?? 120_000);
    const done = () => {
      clearTimeout(timer);
      void worker.terminate();
    };
    worker.once("message", (reply: WorkerReply) => {
      done();
      if (reply.ok) resolve(reply.result);
      else reject(reply.upload ? new UploadError(reply.message) : new Error(reply.message));
    });
    worker.once("error", (error) => {
      done();
      reject(error);
    });
    const buffer = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    worker.postMessage({ bytes: buffer, source }, [buffer.buffer as ArrayBuffer]);
  });
}
