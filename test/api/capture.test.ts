// The capture and diagnostics routers, the evidence download and the upload, against a fake agent (a function
// from request to reply, as the socket client is): what each asks the agent, how replies become page data,
// how failures become frames of the live streams, and what ids and files are refused.
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { evidenceResponse, PCAP_TYPE } from "@/app/api/evidence/respond";
import { uploadResponse, type UploadReply } from "@/app/api/upload/respond";
import { createAgentClient } from "@/server/agent/client";
import type { AgentExchange, AgentReply, AgentRequest } from "@/server/agent/protocol";
import { createCallerFactory, createTRPCRouter } from "@/server/api/trpc";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { captureRouter, captureView, poll, type LiveFrame } from "@/server/api/routers/capture";
import { changedFrames, diagnosticsRouter, diagnosticsView } from "@/server/api/routers/diagnostics";
import { siteContextFromRecording, type RecordedSite } from "@/server/diagnostics/context";
import { evidenceFileName, parseEvidenceId, type CaptureStatus, type FindingView, type FindingsReport } from "@/server/diagnostics/live";
import { analyzeUpload, analyzeUploadInWorker } from "@/server/diagnostics/live-upload";

import { signedIn } from "../auth/context";

// The two routers as root.ts mounts them (kept apart from the other domains' routers).
const router = createTRPCRouter({ capture: captureRouter, diagnostics: diagnosticsRouter });
const createCaller = createCallerFactory(router);

function fakeAgent(reply: (request: AgentRequest) => AgentReply | Promise<AgentReply>) {
  const requests: AgentRequest[] = [];
  const exchange: AgentExchange = async (request) => {
    requests.push(request);
    return reply(request);
  };
  const agent = createAgentClient(exchange);
  // As the page calls: an admin, from the dashboard's own origin (test/auth/context.ts).
  return { agent, caller: createCaller(signedIn({ agent })), requests };
}

const NOW = 1_795_253_500;
const answerer = (mac: string, role: "director" | "real-server" | "unknown", lastAt: number) => ({
  mac, role, ip: null, answers: 3, announcements: 0, firstAt: NOW - 300, lastAt,
});
const STATUS: CaptureStatus = {
  running: true, session: "0a1b2c3d", startedAt: NOW - 60, stoppedAt: null, now: NOW, problem: null,
  interfaces: [{ name: "eth0", addresses: ["192.0.2.1"], mac: "02:00:00:00:00:01" }],
  taps: [{ device: "eth0", filter: "arp", packetsPerSecond: 12.5, captured: 700, kernelDropped: 0, interfaceDropped: 0, ringEvicted: 0, warnings: [] }],
  realServers: [{ ip: "192.0.2.11", mac: null }],
  vips: [
    { address: "192.0.2.100", mode: "dr", packetsPerSecond: 10, packets: 600, questions: 4, lastQuestionAt: NOW - 5,
      arp: [answerer("02:00:00:00:00:12", "real-server", NOW - 5), answerer("02:00:00:00:00:01", "director", NOW - 5)] },
    { address: "192.0.2.20", mode: "dr", packetsPerSecond: 0, packets: 0, questions: 0, lastQuestionAt: null, arp: [] },
    // A real server that answered long ago, and the director since: fine now.
    { address: "192.0.2.9", mode: "nat", packetsPerSecond: 1, packets: 60, questions: 2, lastQuestionAt: NOW - 10,
      arp: [answerer("02:00:00:00:00:01", "director", NOW - 10), answerer("02:00:00:00:00:12", "real-server", NOW - 1000)] },
  ],
};

const finding = (over: Partial<FindingView>): FindingView => ({
  evidenceId: "0a1b2c3d-1", kind: "arp-real-server-claims-vip", device: "eth0", status: "open", severity: "warning",
  title: "t", explanation: "e", hosts: [], fix: { summary: "s", commands: [] }, evidence: [], evidenceStored: 0,
  activity: null, openedAt: NOW - 30, lastEvidenceAt: NOW - 2, resolvedAt: null, reopened: 0, ...over,
});

describe("capture router", () => {
  it("maps the agent's status to a verdict per VIP, sorted by address", () => {
    const view = captureView(STATUS);
    expect(view.vips.map((v) => [v.address, v.verdict, v.owner?.mac ?? null])).toEqual([
      ["192.0.2.9", "ok", "02:00:00:00:00:01"],
      ["192.0.2.20", "silent", null],
      ["192.0.2.100", "conflict", "02:00:00:00:00:12"],
    ]);
    expect(view.vips[2]!.rivals.map((r) => r.role)).toEqual(["real-server", "director"]);
  });

  it("start and stop are mutations that pass the interfaces through; bad names never reach the agent", async () => {
    const { caller, requests } = fakeAgent(() => ({ ok: true, output: STATUS }));
    await expect(caller.capture.start({ interfaces: ["eth0", "eth1"] })).resolves.toMatchObject({ session: "0a1b2c3d" });
    await caller.capture.stop();
    await expect(caller.capture.start({ interfaces: ["eth0; reboot"] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.capture.start({ interfaces: [] })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    expect(requests).toEqual([
      { op: "capture.start", input: { interfaces: ["eth0", "eth1"] } },
      { op: "capture.stop", input: {} },
    ]);
  });

  it("the live stream polls, and turns a down agent into a frame that says so (the stream goes on)", async () => {
    let calls = 0;
    const read = async () => {
      calls++;
      if (calls === 2) {
        const { agent } = fakeAgent(() => ({ ok: false, error: { code: "unavailable", message: "the lvs-dashboard agent is not running (socket /x)" } }));
        return agent.call("capture.status", {});
      }
      return STATUS;
    };
    const abort = new AbortController();
    const frames: LiveFrame<CaptureStatus>[] = [];
    for await (const f of poll(read, abort.signal, 1)) {
      frames.push(f);
      if (frames.length === 3) abort.abort();
    }
    expect(frames.map((f) => f.ok)).toEqual([true, false, true]);
    expect(frames[1]).toMatchObject({ ok: false, error: { agentCode: "unavailable", message: expect.stringMatching(/not running/) } });
  });
});

describe("live streams over HTTP (SSE, as httpSubscriptionLink reads them)", () => {
  it("capture.live sends the status as Server-Sent Events, once a second", async () => {
    const { agent, requests } = fakeAgent(() => ({ ok: true, output: STATUS }));
    const abort = new AbortController();
    const res = await fetchRequestHandler({
      endpoint: "/api/trpc",
      req: new Request("http://127.0.0.1:3000/api/trpc/capture.live", {
        signal: abort.signal,
        headers: { origin: "http://127.0.0.1:3000", host: "127.0.0.1:3000", "sec-fetch-site": "same-origin" },
      }),
      router,
      createContext: () => signedIn({ agent }),
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes('"verdict"')) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    await reader.cancel();
    const data = text.split("\n").find((l) => l.startsWith("data: ") && l.includes('"verdict"'))!;
    const frame = JSON.parse(data.slice(6)) as LiveFrame<ReturnType<typeof captureView>>;
    expect(frame.ok && frame.data.vips.map((v) => v.verdict)).toEqual(["ok", "silent", "conflict"]);
    expect(requests[0]).toEqual({ op: "capture.status", input: {} });
  });
});

describe("diagnostics router", () => {
  const report: FindingsReport = {
    session: "0a1b2c3d", running: true, cursor: 3, evaluatedAt: NOW, events: [],
    open: [
      finding({ evidenceId: "0a1b2c3d-1", severity: "warning", openedAt: NOW - 50 }),
      finding({ evidenceId: "0a1b2c3d-2", severity: "critical", openedAt: NOW - 40, evidenceStored: 3 }),
      finding({ evidenceId: "0a1b2c3d-3", severity: "critical", openedAt: NOW - 10 }),
    ],
    resolved: [finding({ evidenceId: "0a1b2c3d-4", status: "resolved", resolvedAt: NOW - 5, evidenceStored: 1 })],
  };

  it("lists open findings most severe first, newest first, with an evidence link where packets are held", () => {
    const view = diagnosticsView(report);
    expect(view.open.map((f) => [f.evidenceId, f.evidenceUrl])).toEqual([
      ["0a1b2c3d-3", null],
      ["0a1b2c3d-2", "/api/evidence/0a1b2c3d-2"],
      ["0a1b2c3d-1", null],
    ]);
    expect(view.counts).toEqual({ critical: 2, warning: 1, info: 0 });
    expect(view.resolved[0]!.evidenceUrl).toBe("/api/evidence/0a1b2c3d-4");
  });

  it("findings asks the agent with the cursor", async () => {
    const { caller, requests } = fakeAgent(() => ({ ok: true, output: report }));
    await expect(caller.diagnostics.findings({ since: 2 })).resolves.toMatchObject({ cursor: 3 });
    expect(requests).toEqual([{ op: "diagnostics.findings", input: { since: 2 } }]);
  });

  it("the live stream sends only frames that changed, and a heartbeat", async () => {
    const view = diagnosticsView(report);
    async function* frames(): AsyncGenerator<LiveFrame<typeof view>> {
      yield { ok: true, data: view, at: 100 };
      yield { ok: true, data: { ...view, evaluatedAt: NOW + 1 }, at: 101 }; // only the evaluation time moved
      yield { ok: true, data: { ...view, cursor: 4 }, at: 102 };
      yield { ok: true, data: { ...view, cursor: 4 }, at: 113 }; // heartbeat after 10 s
    }
    const out: number[] = [];
    for await (const f of changedFrames(frames())) out.push(f.at);
    expect(out).toEqual([100, 102, 113]);
  });
});

describe("evidence ids and the download", () => {
  it.each(["0a1b2c3d-1", "ffffffff-999999999"])("accepts %s", (id) => {
    expect(parseEvidenceId(id)).not.toBeNull();
    expect(evidenceFileName(id)).toBe(`lvsdash-evidence-${id}.pcap`);
  });

  it.each([
    "../../etc/passwd", "0a1b2c3d-1/../x", "0a1b2c3d-0", "0a1b2c3d-01", "0A1B2C3D-1", "0a1b2c3-1", "0a1b2c3d-1\"; x=\"",
    "0a1b2c3d-1234567890", "0a1b2c3d-1.pcap", " 0a1b2c3d-1", "0a1b2c3d-1\n", "",
  ])("refuses %j", (id) => {
    expect(parseEvidenceId(id)).toBeNull();
    expect(evidenceFileName(id)).toBeNull();
  });

  it("serves the agent's pcap with a fixed file name; refuses a bad id without asking the agent", async () => {
    const pcap = Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 1, 2, 3]);
    const { agent, requests } = fakeAgent(() => ({ ok: true, output: { found: true, kind: "k", title: "t", packets: [], pcapBase64: pcap.toString("base64") } }));
    const ok = await evidenceResponse("0a1b2c3d-7", agent);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe(PCAP_TYPE);
    expect(ok.headers.get("content-disposition")).toBe('attachment; filename="lvsdash-evidence-0a1b2c3d-7.pcap"');
    expect(Buffer.from(await ok.arrayBuffer())).toEqual(pcap);
    expect(requests).toEqual([{ op: "diagnostics.evidence", input: { session: "0a1b2c3d", ref: 7 } }]);

    const bad = await evidenceResponse("..%2F..%2Fetc%2Fpasswd", agent);
    expect(bad.status).toBe(400);
    expect(requests).toHaveLength(1);
  });

  it("says why there is no file: gone (404), agent down (503)", async () => {
    const gone = fakeAgent(() => ({ ok: true, output: { found: false, reason: "that capture session is over" } }));
    const r404 = await evidenceResponse("0a1b2c3d-7", gone.agent);
    expect([r404.status, await r404.text()]).toEqual([404, "that capture session is over\n"]);
    const down = fakeAgent(() => ({ ok: false, error: { code: "unavailable", message: "the lvs-dashboard agent is not running" } }));
    expect((await evidenceResponse("0a1b2c3d-7", down.agent)).status).toBe(503);
  });
});

describe("upload", () => {
  const dir = new URL("../fixtures/lab/dr-rs-arp/", import.meta.url);
  const recorded = JSON.parse(readFileSync(new URL("site.json", dir), "utf8")) as RecordedSite;
  const site = siteContextFromRecording(readFileSync(new URL("ipvsadm-save.txt", dir), "utf8"), recorded);
  const pcap = readFileSync(new URL("lan.pcap", dir));

  const post = (form: FormData) => new Request("http://x/api/upload", { method: "POST", body: form });
  const formWith = (bytes: Uint8Array, rules?: string) => {
    const form = new FormData();
    form.set("pcap", new File([bytes as Uint8Array<ArrayBuffer>], "lan.pcap"));
    if (rules !== undefined) form.set("rules", rules);
    return form;
  };

  it("analyses a real capture with the agent's site, in a worker thread, with each finding's evidence as a pcap", async () => {
    const { agent, requests } = fakeAgent(() => ({ ok: true, output: site }));
    const res = await uploadResponse(post(formWith(pcap)), { agent, analyze: (b, s) => analyzeUploadInWorker(b, s) });
    const body = (await res.json()) as UploadReply;
    if (!body.ok) throw new Error(body.message);
    expect(requests).toEqual([{ op: "diagnostics.site", input: {} }]);
    expect(body.file).toEqual({ name: "lan.pcap", bytes: pcap.length });
    expect(body.analysis.siteSource).toBe("agent");
    // The same findings as lvsdash analyze gives (analyzeUpload in this thread).
    const direct = await analyzeUpload(new Uint8Array(pcap), { site });
    expect(body.analysis.findings.map((f) => f.id)).toEqual(direct.findings.map((f) => f.id));
    const claim = body.analysis.findings.find((f) => f.kind === "arp-real-server-claims-vip");
    expect(claim?.hosts[0]?.mac).toBe("02:00:00:00:00:12");
    expect(claim!.evidencePackets.length).toBeGreaterThan(0);
    expect(Buffer.from(claim!.pcapBase64, "base64").readUInt32LE(0)).toBe(0xa1b2c3d4);
  });

  it("takes pasted ipvsadm-save rules instead of the agent's site, and says what is wrong with bad input", async () => {
    const { agent, requests } = fakeAgent(() => ({ ok: false, error: { code: "unavailable", message: "the lvs-dashboard agent is not running" } }));
    const deps = { agent, analyze: analyzeUpload };
    const rules = readFileSync(new URL("ipvsadm-save.txt", dir), "utf8");
    const withRules = (await (await uploadResponse(post(formWith(pcap, rules)), deps)).json()) as UploadReply;
    expect(withRules.ok && withRules.analysis.siteSource).toBe("rules");
    expect(requests).toEqual([]);

    const down = await uploadResponse(post(formWith(pcap)), deps);
    expect(down.status).toBe(503);
    expect(((await down.json()) as UploadReply & { ok: false }).message).toMatch(/ipvsadm-save -n/);

    const notPcap = await uploadResponse(post(formWith(new TextEncoder().encode("hello, this is not a capture file at all"), rules)), deps);
    expect(notPcap.status).toBe(422);

    const huge = new Request("http://x/api/upload", {
      method: "POST", body: "x", headers: { "content-type": "multipart/form-data; boundary=b", "content-length": String(100 * 1024 * 1024) },
    });
    expect((await uploadResponse(huge, deps)).status).toBe(413);
  });
});

