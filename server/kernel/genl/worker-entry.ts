// The worker thread of GenlWorkerTransport (worker.ts): its own native sockets, serving requests and chunks of
// dumps from the calling thread, one message back for each.
import { parentPort, workerData } from "node:worker_threads";

import { openGenlTransport } from "./linux";
import { GenlTransportPool, runDumps, type GenlReply, type GenlTransport } from "./transport";
import { packReplies, serializeError, type FromWorker, type GenlWorkerOptions, type ToWorker } from "./worker";

const port = parentPort;
if (!port) throw new Error("worker-entry.ts runs only as a worker thread (GenlWorkerTransport)");
const { sockets = 8, ...socketOptions } = (workerData as { options: GenlWorkerOptions }).options;
const members = Array.from({ length: Math.max(1, sockets) }, () => openGenlTransport(socketOptions));
const transport: GenlTransport = members.length > 1 ? new GenlTransportPool(members) : members[0]!;

const post = (m: FromWorker) => {
  if (m.type === "ready") return port.postMessage(m);
  if (m.type === "replies") port.postMessage(m, [m.counts.buffer, m.cmds.buffer, m.versions.buffer, m.attrEnds.buffer, m.bytes.buffer] as ArrayBuffer[]);
  else port.postMessage(m);
};

port.on("message", (m: ToWorker) => {
  if (m.type === "close") {
    transport.close();
    // The native sockets finish closing (libuv close callbacks) on the next turn; the thread ends after it.
    setTimeout(() => port.close(), 10);
    return;
  }
  void (async () => {
    try {
      if (m.type === "request") {
        post(packReplies(m.id, [await transport.request(m.cmd, m.attrs, { dump: m.dump })]));
        return;
      }
      const requests: Uint8Array[] = new Array(m.ends.length);
      for (let k = 0, at = 0; k < m.ends.length; k++) {
        requests[k] = m.bytes.subarray(at, m.ends[k]!);
        at = m.ends[k]!;
      }
      const perDump: GenlReply[][] = new Array(requests.length);
      await runDumps(transport, m.cmd, requests, (i, replies) => {
        perDump[i] = replies;
      });
      post(packReplies(m.id, perDump));
    } catch (e) {
      post({ type: "error", id: m.id, error: serializeError(e) });
    }
  })();
});

post({ type: "ready" });
