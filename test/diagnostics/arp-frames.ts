// Ethernet/IPv4 ARP frames built for the detector tests, and small captures made of them.

import { formatMac, parseIPv4, parseMac } from "@/server/capture/decode/bytes";
import type { PcapPacket } from "@/server/capture/pcapfile/writer";

export interface ArpSpec {
  op: "request" | "reply";
  /** Sender MAC and IP ("who-has TPA tell SPA" / "SPA is-at SHA"). */
  sha: string;
  spa: string;
  tha?: string;
  tpa: string;
  /** Ethernet destination; broadcast for requests by default. */
  dst?: string;
}

export function arpFrame(a: ArpSpec): Uint8Array {
  const b = new Uint8Array(42);
  const dv = new DataView(b.buffer);
  const mac = (o: number, text: string) => {
    const n = parseMac(text)!;
    dv.setUint16(o, Math.floor(n / 2 ** 32));
    dv.setUint32(o + 2, n % 2 ** 32);
  };
  const tha = a.tha ?? (a.op === "request" ? "00:00:00:00:00:00" : "ff:ff:ff:ff:ff:ff");
  mac(0, a.dst ?? (a.op === "request" ? "ff:ff:ff:ff:ff:ff" : tha));
  mac(6, a.sha);
  dv.setUint16(12, 0x0806);
  dv.setUint16(14, 1);
  dv.setUint16(16, 0x0800);
  b[18] = 6;
  b[19] = 4;
  dv.setUint16(20, a.op === "request" ? 1 : 2);
  mac(22, a.sha);
  dv.setUint32(28, parseIPv4(a.spa)!);
  mac(32, tha);
  dv.setUint32(38, parseIPv4(a.tpa)!);
  return b;
}

/** Frames at the given times (seconds from an arbitrary start). */
export function capture(frames: [number, ArpSpec][]): PcapPacket[] {
  const t0 = 1_795_253_400;
  return frames.map(([t, spec]) => ({
    data: arpFrame(spec),
    tsSec: t0 + Math.floor(t),
    tsNsec: Math.round((t % 1) * 1e6) * 1000,
  }));
}

export const MAC = {
  director: "02:00:00:00:00:01",
  backup: "02:00:00:00:00:02",
  rs1: "02:00:00:00:00:11",
  rs2: "02:00:00:00:00:12",
  router: "02:00:00:00:00:fe",
} as const;

export const IP = { vip: "192.0.2.100", director: "192.0.2.1", backup: "192.0.2.2", rs1: "192.0.2.11", rs2: "192.0.2.12", router: "192.0.2.254" };

/** The router asks for the VIP; `answers` reply in order, 0.1 ms apart. */
export function whoHasVip(t: number, ...answers: (keyof typeof MAC)[]): [number, ArpSpec][] {
  return [
    [t, { op: "request", sha: MAC.router, spa: IP.router, tpa: IP.vip }],
    ...answers.map((who, i): [number, ArpSpec] => [
      t + 0.0001 * (i + 1),
      { op: "reply", sha: MAC[who], spa: IP.vip, tha: MAC.router, tpa: IP.router },
    ]),
  ];
}

export { formatMac };
