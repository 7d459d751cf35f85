// Starts a netlink worker thread (worker.ts): registers tsx, since the agent runs TypeScript, then loads the
// TypeScript entry named in workerData.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
