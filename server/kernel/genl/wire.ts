// Netlink and generic netlink message framing (include/uapi/linux/netlink.h, genetlink.h). Pure functions over
// bytes, shared by the Linux transport and the tests that replay recorded kernel datagrams through it.
//
// One datagram holds one or more messages, each padded to a multiple of 4:
//
//   struct nlmsghdr (16 bytes)                          struct genlmsghdr (4 bytes)
//    0         4       6        8        12       16     16    17       18         20
//    +---------+-------+--------+--------+--------+      +-----+--------+----------+--------------
//    | nlmsg_len| type | flags  |  seq   |  pid   |      | cmd | version| reserved | attributes...
//    +---------+-------+--------+--------+--------+      +-----+--------+----------+--------------
//
// nlmsg_len counts the header and the payload. For a generic netlink family, `type` is the family id. An
// NLMSG_ERROR payload is struct nlmsgerr: a negative errno (0 = ACK), then the request's header (and its
// payload, unless NLM_F_CAPPED), then extended-ack attributes when NLM_F_ACK_TLVS is set.
import { AttrCursor, HOST_LITTLE_ENDIAN, align4 } from "./attrs";

export const NLMSG_HDRLEN = 16;
export const GENL_HDRLEN = 4;

/** Message types below NLMSG_MIN_TYPE (0x10), include/uapi/linux/netlink.h. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags, include/uapi/linux/netlink.h. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** Flags of an NLMSG_ERROR message. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
/** enum nlmsgerr_attrs. */
export const NLMSGERR_ATTR_MSG = 1;

/** The generic netlink controller, include/uapi/linux/genetlink.h. */
export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_ATTR_FAMILY_ID = 1;
export const CTRL_ATTR_FAMILY_NAME = 2;
export const CTRL_VERSION = 2;

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The payload after the 16-byte header, as a view. */
  payload: Uint8Array;
}

export function encodeNlMsg(m: Omit<NlMsg, "payload">, payload: Uint8Array): Uint8Array {
  const out = nlMsgWithRoom(m, payload.length);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

export function encodeGenlPayload(cmd: number, version: number, attrs: Uint8Array): Uint8Array {
  const out = new Uint8Array(GENL_HDRLEN + attrs.length);
  out[0] = cmd;
  out[1] = version;
  out.set(attrs, GENL_HDRLEN);
  return out;
}

/** encodeNlMsg(m, encodeGenlPayload(cmd, version, attrs)) in one allocation: every request goes through it. */
export function encodeGenlMsg(m: Omit<NlMsg, "payload">, cmd: number, version: number, attrs: Uint8Array): Uint8Array {
  const out = nlMsgWithRoom(m, GENL_HDRLEN + attrs.length);
  out[NLMSG_HDRLEN] = cmd;
  out[NLMSG_HDRLEN + 1] = version;
  out.set(attrs, NLMSG_HDRLEN + GENL_HDRLEN);
  return out;
}

/** A zeroed message of a `payloadLength`-byte payload (padded to 4) with its header written. */
function nlMsgWithRoom(m: Omit<NlMsg, "payload">, payloadLength: number): Uint8Array {
  const len = NLMSG_HDRLEN + payloadLength;
  const out = new Uint8Array(align4(len));
  const d = new DataView(out.buffer);
  d.setUint32(0, len, HOST_LITTLE_ENDIAN);
  d.setUint16(4, m.type, HOST_LITTLE_ENDIAN);
  d.setUint16(6, m.flags, HOST_LITTLE_ENDIAN);
  d.setUint32(8, m.seq >>> 0, HOST_LITTLE_ENDIAN);
  d.setUint32(12, m.pid >>> 0, HOST_LITTLE_ENDIAN);
  return out;
}

/** Why the message header at `at` of a datagram (viewed whole by `view`) cannot be read, or undefined. */
export function nlHeaderProblem(view: DataView, at: number): string | undefined {
  const left = view.byteLength - at;
  if (left < NLMSG_HDRLEN) return `${left} trailing byte(s), less than a netlink header`;
  const len = view.getUint32(at, HOST_LITTLE_ENDIAN);
  if (len < NLMSG_HDRLEN) return `nlmsg_len ${len} is less than the header (16)`;
  if (len > left) return `nlmsg_len ${len} runs past the datagram (${left} bytes left)`;
  return undefined;
}

/** Splits a datagram into messages; `problem` says why it stopped early (the messages before it are kept). */
export function splitDatagram(buf: Uint8Array): { messages: NlMsg[]; problem?: string } {
  const messages: NlMsg[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  while (at < buf.length) {
    const left = buf.length - at;
    const problem = nlHeaderProblem(view, at);
    if (problem) return { messages, problem };
    const len = view.getUint32(at, HOST_LITTLE_ENDIAN);
    messages.push({
      type: view.getUint16(at + 4, HOST_LITTLE_ENDIAN),
      flags: view.getUint16(at + 6, HOST_LITTLE_ENDIAN),
      seq: view.getUint32(at + 8, HOST_LITTLE_ENDIAN),
      pid: view.getUint32(at + 12, HOST_LITTLE_ENDIAN),
      payload: buf.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += Math.min(align4(len), left);
  }
  return { messages };
}

/** struct nlmsgerr: errno is positive here (0 = ACK); `message` is the kernel's extended-ack text if sent. */
export function parseNlError(m: NlMsg): { errno: number; message?: string } | { problem: string } {
  if (m.payload.length < 4) return { problem: `NLMSG_ERROR payload of ${m.payload.length} bytes` };
  const error = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, HOST_LITTLE_ENDIAN);
  const result: { errno: number; message?: string } = { errno: -error };
  if (m.flags & NLM_F_ACK_TLVS && m.payload.length >= 4 + NLMSG_HDRLEN) {
    const inner = new DataView(m.payload.buffer, m.payload.byteOffset + 4, 4).getUint32(0, HOST_LITTLE_ENDIAN);
    const tlvStart = 4 + (m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(inner));
    const c = new AttrCursor(m.payload.subarray(Math.min(tlvStart, m.payload.length)), "nlmsgerr");
    while (c.next()) if (c.type === NLMSGERR_ATTR_MSG) result.message = c.string();
  }
  return result;
}

/** NLMSG_DONE carries an int: 0, or a negative errno when the dump itself failed. */
export function parseDone(m: NlMsg): number {
  if (m.payload.length < 4) return 0;
  return -new DataView(m.payload.buffer, m.payload.byteOffset, 4).getInt32(0, HOST_LITTLE_ENDIAN);
}
