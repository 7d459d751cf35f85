// Live packet capture on one interface through libpcap (node `pcap`): the only code that imports `pcap`.
//
// node_pcap hands every packet in ONE reused buffer (and its 16-byte header in another), synchronously,
// draining all pending packets in one go on the event loop. So each packet is copied out at once, before
// anything could await, into a bounded ring of recent packets and to the caller's `onPacket`. node_pcap's
// own decoders (an object per layer per packet) are not used: the project's decoders read the copies.
// Because the drain is synchronous, a capture belongs in the privileged agent, never in the web server.
//
//   const cap = openLiveCapture({ device: "eth0", filter: buildCaptureFilter(scopeOfSite(site)) }, (p) => engine.push(p.data, p.time));
//   cap.recent();   // the last `ringSize` packets, oldest first
//   cap.stats();    // packets seen, kernel drops (pcap_stats), ring evictions
//   cap.close();
//
// The header buffer, as pcap_session.cc fills it from struct pcap_pkthdr (host byte order, which is
// little-endian on every platform this runs on):
//   0..3 tv_sec   4..7 tv_usec   8..11 caplen   12..15 len

import { createRequire } from "node:module";
import type * as PcapModule from "pcap";

// `pcap` is CommonJS with a native addon: loaded with require, typed from its own declarations.
const pcap = createRequire(import.meta.url)("pcap") as typeof PcapModule;

export interface LiveCaptureOptions {
  device: string;
  /** A BPF filter (server/capture/bpf.ts); "" captures everything. */
  filter: string;
  /** Bytes kept per packet. Default 262144 (tcpdump's; headers are all the detectors need, but evidence
   *  downloads want whole packets). */
  snaplen?: number;
  /** The kernel's capture buffer in bytes. Default 8 MiB. */
  bufferSize?: number;
  /** Packets kept for recent(). Default 10,000. */
  ringSize?: number;
  /** Deliver each packet as it arrives (libpcap immediate mode) instead of in batches every
   *  `bufferTimeoutMs`. Default true: findings within a second matter more than wakeups. */
  immediate?: boolean;
  bufferTimeoutMs?: number;
  promiscuous?: boolean;
}

/** A packet copied out of libpcap's buffer: the caller may keep it. */
export interface CapturedPacket {
  /** 0-based, in capture order. */
  index: number;
  /** Capture time, seconds since the epoch (µs resolution). */
  time: number;
  data: Uint8Array;
  /** Length on the wire (more than data.length when cut by the snaplen). */
  origLen: number;
}

export interface CaptureStats {
  /** Packets delivered to us. */
  captured: number;
  /** pcap_stats: packets the kernel received that passed the filter (Linux: including those dropped). */
  kernelReceived: number;
  /** pcap_stats: dropped because the capture buffer was full (we read too slowly). */
  kernelDropped: number;
  /** pcap_stats: dropped by the interface or its driver (0 may mean "not reported"). */
  interfaceDropped: number;
  /** Packets pushed out of the ring of recent packets (not lost: they were delivered). */
  ringEvicted: number;
  /** libpcap's warnings when opening (e.g. "no IPv4 address assigned"). */
  warnings: string[];
}

export class CaptureError extends Error {
  override name = "CaptureError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface LiveCapture {
  readonly device: string;
  readonly filter: string;
  recent(): CapturedPacket[];
  stats(): CaptureStats;
  close(): void;
}

export function openLiveCapture(options: LiveCaptureOptions, onPacket?: (p: CapturedPacket) => void): LiveCapture {
  const ringSize = options.ringSize ?? 10_000;
  const ring: (CapturedPacket | undefined)[] = new Array(ringSize);
  let next = 0;
  let ringEvicted = 0;
  const warnings: string[] = [];
  let lastStats = { ps_recv: 0, ps_drop: 0, ps_ifdrop: 0 };

  // libpcap's warnings go to console.warn by default; keep them for stats() instead (the handler is module
  // wide in node_pcap, so it is set around the open only).
  const previousWarning = pcap.warningHandler;
  pcap.warningHandler = (text: string) => void warnings.push(text);
  let session: PcapModule.PcapSession;
  try {
    session = pcap.createSession(options.device, {
      filter: options.filter,
      snap_length: options.snaplen ?? 262_144,
      buffer_size: options.bufferSize ?? 8 << 20,
      buffer_timeout: options.immediate === false ? (options.bufferTimeoutMs ?? 100) : 0,
      promiscuous: options.promiscuous ?? true,
    });
  } catch (e) {
    throw new CaptureError(`cannot capture on ${options.device}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  } finally {
    pcap.warningHandler = previousWarning;
  }
  if (session.link_type !== "LINKTYPE_ETHERNET") {
    session.close();
    throw new CaptureError(`${options.device} is not an Ethernet interface (${session.link_type}): the decoders read Ethernet frames`);
  }

  let open = true;
  session.on("packet", (raw: PcapModule.PacketWithHeader) => {
    const h = raw.header;
    const caplen = h.readUInt32LE(8);
    // The copy: raw.buf is overwritten by the next packet of the same drain.
    const data = new Uint8Array(caplen);
    data.set(raw.buf.subarray(0, caplen));
    const p: CapturedPacket = { index: next, time: h.readUInt32LE(0) + h.readUInt32LE(4) / 1e6, data, origLen: h.readUInt32LE(12) };
    if (ring[next % ringSize] !== undefined) ringEvicted++;
    ring[next % ringSize] = p;
    next++;
    onPacket?.(p);
  });

  return {
    device: options.device,
    filter: options.filter,
    recent() {
      const out: CapturedPacket[] = [];
      for (let i = Math.max(0, next - ringSize); i < next; i++) out.push(ring[i % ringSize]!);
      return out;
    },
    stats() {
      if (open) lastStats = session.stats();
      return {
        captured: next, kernelReceived: lastStats.ps_recv, kernelDropped: lastStats.ps_drop,
        interfaceDropped: lastStats.ps_ifdrop, ringEvicted, warnings: [...warnings],
      };
    },
    close() {
      if (!open) return;
      lastStats = session.stats();
      open = false;
      session.close();
    },
  };
}
