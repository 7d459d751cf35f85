// The worker thread of an upload's analysis (live-upload.ts starts it, with tsx loaded first): one job,
// one reply, then the thread is ended.
import { parentPort } from "node:worker_threads";

import { UploadError, analyzeUpload, type UploadSite, type WorkerReply } from "./live-upload";

parentPort?.once("message", async (job: { bytes: Uint8Array; source: UploadSite }) => {
  let reply: WorkerReply;
  try {
    reply = { ok: true, result: await analyzeUpload(job.bytes, job.source) };
  } catch (error) {
    reply = { ok: false, upload: error instanceof UploadError, message: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(reply);
});
