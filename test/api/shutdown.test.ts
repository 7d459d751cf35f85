// server/api/shutdown.ts: the process's stop signal, as the tRPC route and the sampler use it.
import { afterEach, describe, expect, it } from "vitest";

import { shutdownSignal, untilShutdown } from "@/server/api/shutdown";

const globalForShutdown = globalThis as unknown as { lvsdashShutdown?: AbortController };
// Stands in for Next's own handler, so that the module does not re-raise the signal at this test process.
const nextHandler = () => {};

afterEach(() => {
  process.off("SIGTERM", nextHandler);
  delete globalForShutdown.lvsdashShutdown;
});

describe("shutdownSignal", () => {
  it("is one signal for the process, aborted by the first SIGTERM, with the reason", () => {
    process.on("SIGTERM", nextHandler);
    const signal = shutdownSignal();
    expect(shutdownSignal()).toBe(signal);
    expect(signal.aborted).toBe(false);
    process.emit("SIGTERM", "SIGTERM");
    expect(signal.aborted).toBe(true);
    expect(String(signal.reason)).toContain("stopping (SIGTERM)");
    // It stops listening once done: Next's handler is the only one left.
    expect(process.listeners("SIGTERM")).toEqual([nextHandler]);
  });

  it("ends a request's signal when the server stops, and still when the request ends", () => {
    process.on("SIGTERM", nextHandler);
    const browserLeft = new AbortController();
    const request = untilShutdown(browserLeft.signal);
    browserLeft.abort();
    expect(request.aborted).toBe(true);

    const other = untilShutdown(new AbortController().signal);
    expect(other.aborted).toBe(false);
    process.emit("SIGTERM", "SIGTERM");
    expect(other.aborted).toBe(true);
  });
});
