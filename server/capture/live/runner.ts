// The agent side of live diagnostics: a capture on one interface, filtered to the site (bpf.ts), feeding the
// findings engine (server/diagnostics/engine.ts), evaluated on a timer. Runs in the privileged agent process,
// never in the web server: libpcap's packets are drained synchronously on the event loop.
//
//   const live = startLiveDiagnostics({ device: "eth0", site, onEvents: (events) => publish(events) });
//   live.state();          // open and resolved findings, capture counters (drops), packets in the window
//   live.setSite(site2);   // the IPVS table changed: new filter (the capture is reopened), new context
//   live.stop();
//
// The engine gets each packet's capture time; evaluations use the wall clock (`now`), so a finding whose
// evidence stopped resolves even while packets trickle in.

import { buildCaptureFilter, scopeOfSite } from "@/server/capture/bpf";
import { FindingsEngine, type EngineEvent, type EngineOptions, type TrackedFinding } from "@/server/diagnostics/engine";
import type { SiteContext } from "@/server/diagnostics/types";
import { openLiveCapture, type CaptureStats, type LiveCapture, type LiveCaptureOptions } from "@/server/kernel/capture";

export interface LiveDiagnosticsOptions {
  device: string;
  site: SiteContext;
  /** How often the engine evaluates (ms). Default 1000. */
  intervalMs?: number;
  engine?: EngineOptions;
  capture?: Omit<LiveCaptureOptions, "device" | "filter">;
  /** What opened and resolved at each evaluation (not called when nothing changed). */
  onEvents?: (events: EngineEvent[]) => void;
  /** Called when an evaluation throws (the timer keeps running). */
  onError?: (e: unknown) => void;
  /** Seconds since the epoch. Default: the wall clock. */
  now?: () => number;
  /** The capture to use; default libpcap (server/kernel/capture.ts). */
  open?: typeof openLiveCapture;
}

export interface LiveDiagnosticsState {
  device: string;
  filter: string;
  open: TrackedFinding[];
  resolved: TrackedFinding[];
  capture: CaptureStats;
  window: { pushed: number; inWindow: number };
  evaluatedAt: number | null;
}

export interface LiveDiagnostics {
  state(): LiveDiagnosticsState;
  /** Evaluates now (besides the timer) and returns the events. */
  evaluate(): EngineEvent[];
  setSite(site: SiteContext): void;
  stop(): void;
}

export function startLiveDiagnostics(options: LiveDiagnosticsOptions): LiveDiagnostics {
  const now = options.now ?? (() => Date.now() / 1000);
  const open = options.open ?? openLiveCapture;
  const engine = new FindingsEngine(options.site, options.engine);
  let evaluatedAt: number | null = null;
  const startCapture = (site: SiteContext): LiveCapture =>
    open({ ...options.capture, device: options.device, filter: buildCaptureFilter(scopeOfSite(site)) }, (p) => {
      engine.push(p.data, p.time);
    });
  let capture = startCapture(options.site);

  const evaluate = (): EngineEvent[] => {
    const t = now();
    const events = engine.evaluate(t);
    evaluatedAt = t;
    if (events.length > 0) options.onEvents?.(events);
    return events;
  };
  const timer = setInterval(() => {
    try {
      evaluate();
    } catch (e) {
      options.onError?.(e);
    }
  }, options.intervalMs ?? 1000);

  return {
    state: () => ({
      device: capture.device, filter: capture.filter, open: engine.open(), resolved: engine.resolved(),
      capture: capture.stats(), window: engine.counts, evaluatedAt,
    }),
    evaluate,
    setSite(site) {
      engine.setSite(site);
      const filter = buildCaptureFilter(scopeOfSite(site));
      if (filter === capture.filter) return;
      const next = startCapture(site); // open the new one first: no gap if it works, the old one if not
      capture.close();
      capture = next;
    },
    stop() {
      clearInterval(timer);
      capture.close();
    },
  };
}
