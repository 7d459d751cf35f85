// The Linux side of server/kernel/genl: a NETLINK_GENERIC datagram socket from the `netlink` package
// (mildsunrise/node-netlink's RawNetlinkSocket, a thin native binding), wrapped as a NetlinkConn, and the
// factory that puts a GenlSocketTransport over it. The only file in the project that imports `netlink`.
//
// Only the raw socket is used: the package's NetlinkSocket groups multipart replies but does not surface
// NLM_F_DUMP_INTR, and its errors are strings; GenlSocketTransport does that framing itself, so the same code
// is exercised by the recorded-datagram tests.
import { RawNetlinkSocket } from "netlink";
import { GenlError, GenlSocketTransport, type GenlSocketOptions, type NetlinkConn } from "./transport";

/** include/uapi/linux/netlink.h */
const NETLINK_GENERIC = 16;

/** Opens a NETLINK_GENERIC socket. Received datagrams queue until `receive` takes them; the socket keeps the
 *  event loop alive only while a receive is pending. Message peeking (the package's default) sizes each read
 *  to the datagram, so large dump datagrams are never truncated. */
export function openGenericNetlinkConn(): NetlinkConn {
  const sock = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 });
  sock.unref();
  const queued: Uint8Array[] = [];
  let waiter: { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout } | undefined;
  let failure: unknown;
  let closed = false;

  const settle = (fn: (w: NonNullable<typeof waiter>) => void) => {
    const w = waiter;
    if (!w) return;
    waiter = undefined;
    clearTimeout(w.timer);
    sock.unref();
    fn(w);
  };
  sock.on("message", (msg) => {
    // Copy: the views handed out later must not alias a buffer the binding might reuse.
    const b = new Uint8Array(msg);
    // Hand the datagram over outside the binding's callback: node drains the microtask queue before a native
    // callback returns, so a waiter resolved here would run the next request (a native send) re-entrantly,
    // which the binding does not survive (it aborts the process with an uncaught Napi::Error).
    setImmediate(() => {
      if (waiter) settle((w) => w.resolve(b));
      else queued.push(b);
    });
  });
  // Failures take the same deferred path, so they stay in order with the datagrams before them.
  const fail = (e: unknown) =>
    setImmediate(() => {
      if (waiter) settle((w) => w.reject(e));
      else failure ??= e;
    });
  sock.on("truncatedMessage", (_msg, rinfo) => fail(new GenlError("protocol", `a reply datagram was truncated (${rinfo.truncated ?? "?"} bytes)`)));
  sock.on("error", fail);

  return {
    portId: sock.address().port,
    send(datagram) {
      if (closed) return Promise.reject(new GenlError("closed", "netlink socket is closed"));
      return new Promise((resolve, reject) => sock.send(datagram, { port: 0 }, (e) => (e ? reject(e) : resolve())));
    },
    receive(timeoutMs) {
      if (closed) return Promise.reject(new GenlError("closed", "netlink socket is closed"));
      const next = queued.shift();
      if (next) return Promise.resolve(next);
      if (failure !== undefined) {
        const e = failure;
        failure = undefined;
        return Promise.reject(e);
      }
      if (waiter) return Promise.reject(new GenlError("protocol", "concurrent receive on one netlink socket"));
      return new Promise((resolve, reject) => {
        sock.ref();
        const timer = setTimeout(() => settle((w) => w.reject(new GenlError("timeout", `no datagram within ${timeoutMs} ms`))), timeoutMs);
        waiter = { resolve, reject, timer };
      });
    },
    close() {
      if (closed) return;
      closed = true;
      settle((w) => w.reject(new GenlError("closed", "netlink socket closed")));
      sock.close();
    },
  };
}

/** A generic netlink transport for one family over one native socket, reused for every request. */
export function openGenlTransport(opts: GenlSocketOptions): GenlSocketTransport {
  return new GenlSocketTransport(openGenericNetlinkConn(), opts);
}
