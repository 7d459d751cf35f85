// Test helpers for the IPVS netlink suite: load recorded kernel exchanges, replay them through the real
// transport code (GenlSocketTransport) with a stand-in for the socket, and script synthetic kernels.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { HOST_LITTLE_ENDIAN, fromHex } from "@/server/kernel/genl/attrs";
import { GenlError, GenlSocketTransport, type NetlinkConn } from "@/server/kernel/genl/transport";
import { splitDatagram } from "@/server/kernel/genl/wire";
import { IPVS_GENL_NAME, IPVS_GENL_VERSION } from "@/server/ipvs/netlink/constants";

export interface RecordedExchange {
  name: string;
  datagrams: { dir: "out" | "in"; hex: string }[];
  error?: { kind: string; code?: string; message: string };
}

export interface Fixture {
  kernel: string;
  setup: string;
  oracles: { cmd: string; out: string }[];
  exchanges: RecordedExchange[];
}

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../fixtures/netlink/${name}.json`, import.meta.url)), "utf8")) as Fixture;
}

export function oracle(f: Fixture, cmd: string): string {
  const o = f.oracles.find((x) => x.cmd === cmd);
  if (!o) throw new Error(`fixture has no oracle "${cmd}"`);
  return o.out;
}

export function exchange(f: Fixture, name: string): RecordedExchange {
  const e = f.exchanges.find((x) => x.name === name);
  if (!e) throw new Error(`fixture has no exchange "${name}"`);
  return e;
}

/** Copies a datagram with every message's nlmsg_seq set to `seq`, as the kernel echoes the request's. */
export function withSeq(datagram: Uint8Array, seq: number): Uint8Array {
  const out = datagram.slice();
  const { messages } = splitDatagram(out);
  for (const m of messages) {
    const hdr = m.payload.byteOffset - 16;
    new DataView(out.buffer, hdr + 8, 4).setUint32(0, seq, HOST_LITTLE_ENDIAN);
  }
  return out;
}

const seqOf = (d: Uint8Array) => new DataView(d.buffer, d.byteOffset + 8, 4).getUint32(0, HOST_LITTLE_ENDIAN);
/** A request with its seq and pid (bytes 8..16) blanked, for comparison with a recording. */
const blank = (d: Uint8Array) => {
  const c = d.slice();
  c.fill(0, 8, 16);
  return Buffer.from(c).toString("hex");
};

/**
 * A NetlinkConn that plays the kernel's side of recorded exchanges: each request must equal the recorded one
 * (apart from seq and pid), and is answered with the recorded reply datagrams, their seq set to the request's.
 */
export function replayConn(exchanges: RecordedExchange[]): NetlinkConn & { sent: Uint8Array[]; remaining(): number } {
  const script = exchanges.flatMap((e) => e.datagrams.map((d) => ({ dir: d.dir, bytes: fromHex(d.hex) })));
  const pending: Uint8Array[] = [];
  const sent: Uint8Array[] = [];
  let at = 0;
  return {
    portId: 4242,
    sent,
    remaining: () => script.length - at,
    async send(d) {
      sent.push(d);
      const next = script[at];
      if (!next || next.dir !== "out") throw new Error(`unexpected request #${sent.length}: the recording has no more requests here`);
      if (blank(d) !== blank(next.bytes)) throw new Error(`request #${sent.length} differs from the recording:\n  sent     ${blank(d)}\n  recorded ${blank(next.bytes)}`);
      at++;
      while (script[at]?.dir === "in") pending.push(withSeq(script[at++]!.bytes, seqOf(d)));
    },
    async receive() {
      const d = pending.shift();
      if (!d) throw new GenlError("timeout", "replay: no more recorded datagrams");
      return d;
    },
    close() {},
  };
}

export function replayTransport(exchanges: RecordedExchange[]) {
  const conn = replayConn(exchanges);
  return { conn, transport: new GenlSocketTransport(conn, { family: IPVS_GENL_NAME, version: IPVS_GENL_VERSION, timeoutMs: 1000 }) };
}

/** The ipvsadm-save text with lines in a canonical form (ipvsadm ends each with a newline). */
export const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");
