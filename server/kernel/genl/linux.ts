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

/** Opens a NETLINK_GENERIC socket. Received datagrams queue until `receive` takes them. The socket itself never
 *  holds the event loop open: a pending receive's deadline timer does. Message peeking (the package's default)
 *  sizes each read to the datagram, so large dump datagrams are never truncated. */
export function openGenericNetlinkConn(): NetlinkConn {
  const sock = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 });
  sock.unref();
  const queued: Uint8Array[] = [];
  let waiter: { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void; deadline: number } | undefined;
  let failure: unknown;
  let closed = false;

  // One deadline timer, kept across receives (a snapshot makes two per service): armed for the first waiter,
  // re-armed on firing while a later deadline is pending, unref'd while nobody waits (so an idle socket does
  // not hold the process) and ref'd again by the next receive.
  let timer: NodeJS.Timeout | undefined;
  let timerAt = 0;
  const onTimer = () => {
    timer = undefined;
    const w = waiter;
    if (!w) return;
    const left = w.deadline - Date.now();
    if (left > 0) return arm(w.deadline);
    settle((x) => x.reject(new GenlError("timeout", "no datagram in time")));
  };
  const arm = (deadline: number) => {
    if (timer && timerAt <= deadline) {
      timer.ref();
      return;
    }
    if (timer) clearTimeout(timer);
    timerAt = deadline;
    timer = setTimeout(onTimer, Math.max(0, deadline - Date.now()));
  };

  const settle = (fn: (w: NonNullable<typeof waiter>) => void) => {
    const w = waiter;
    if (!w) return;
    waiter = undefined;
    timer?.unref();
    fn(w);
  };
  // Datagrams and failures in arrival order, handed over outside the binding's callback: node drains the
  // microtask queue before a native callback returns, so a waiter resolved in the callback would run the next
  // request (a native send) re-entrantly, which the binding does not survive (it aborts the process with an
  // uncaught Napi::Error). One setImmediate carries everything that arrived in the same turn of the loop (the
  // binding reads up to 32 datagrams per poll event), not one per datagram.
  const arrived: ({ datagram: Uint8Array } | { error: unknown })[] = [];
  let handOverScheduled = false;
  const handOver = () => {
    handOverScheduled = false;
    for (const item of arrived.splice(0)) {
      if ("datagram" in item) {
        if (waiter) settle((w) => w.resolve(item.datagram));
        else queued.push(item.datagram);
      } else if (waiter) settle((w) => w.reject(item.error));
      else failure ??= item.error;
    }
  };
  const arrive = (item: (typeof arrived)[number]) => {
    arrived.push(item);
    if (!handOverScheduled) {
      handOverScheduled = true;
      setImmediate(handOver);
    }
  };
  // No copy: the binding allocates a fresh buffer for every datagram and hands its ownership over
  // (binding.cc Recvmsg: make_unique + Napi::Buffer::New with a finalizer), so nothing else writes to it.
  sock.on("message", (msg) => arrive({ datagram: new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength) }));
  const fail = (e: unknown) => arrive({ error: e });
  sock.on("truncatedMessage", (_msg, rinfo) => fail(new GenlError("protocol", `a reply datagram was truncated (${rinfo.truncated ?? "?"} bytes)`)));
  sock.on("error", fail);

  return {
    portId: sock.address().port,
    send(datagram) {
      if (closed) return Promise.reject(new GenlError("closed", "netlink socket is closed"));
      // The binding calls sendmsg() at once and reports completion on a later turn of the loop (a timer).
      // Waiting for that turn would cost every request one more; a failed send instead reaches the receive
      // that follows it, in order, like any other socket failure.
      sock.send(datagram, { port: 0 }, (e) => {
        if (e) fail(e);
      });
      return Promise.resolve();
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
        const deadline = Date.now() + timeoutMs;
        waiter = { resolve, reject, deadline };
        arm(deadline);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      settle((w) => w.reject(new GenlError("closed", "netlink socket closed")));
      if (timer) clearTimeout(timer);
      sock.close();
    },
  };
}

/** A generic netlink transport for one family over one native socket, reused for every request. */
export function openGenlTransport(opts: GenlSocketOptions): GenlSocketTransport {
  return new GenlSocketTransport(openGenericNetlinkConn(), opts);
}
