// Shared by the snapshot, apply and CLI unit tests: tables from rules text, and a fake kernel (a function from
// request to replies, fakeGenlTransport) that answers the read commands from a TableState and records writes.
import { AttrEncoder } from "@/server/kernel/genl/attrs";
import { GenlError, fakeGenlTransport, type GenlFakeRequest, type GenlReply } from "@/server/kernel/genl/transport";
import { destinationAttrs, encodeDaemon, encodeDest, encodeInfo, encodeService, encodeTimeouts, serviceExtendedAttrs } from "@/server/ipvs/netlink/codec";
import { IPVS_CMD } from "@/server/ipvs/netlink/constants";
import { IpvsClient } from "@/server/ipvs/netlink/client";
import type { IpvsInfo } from "@/server/ipvs/netlink/types";
import { loadIpvsadmRules } from "@/server/ipvs/rules/table";
import { readSnapshot, type DirectorSnapshot, type TableState } from "@/server/ipvs/snapshot/model";
import { tableStateFromRules } from "@/server/ipvs/snapshot/rules";
import { exchange, loadFixture, replayTransport } from "../netlink/helpers";

export const INFO: IpvsInfo = { versionCode: 0x010201, version: "1.2.1", connTableSize: 4096 };

/** A table from ipvsadm rules (which must load without errors), as the kernel would report it. */
export function state(rules: string): TableState {
  const { table, errors } = loadIpvsadmRules(rules);
  if (errors.length) throw new Error(`rules: ${JSON.stringify(errors)}`);
  const s = tableStateFromRules(table);
  // the kernel sets HASHED on every service in its table
  for (const svc of s.services) svc.flags = { ...svc.flags, hashed: true, raw: svc.flags.raw | 2 };
  return s;
}

const reply = (cmd: number, fill: (e: AttrEncoder) => void): GenlReply => {
  const e = new AttrEncoder();
  fill(e);
  return { cmd, version: 1, attrs: e.finish() };
};

function keyAttrs(service: TableState["services"][number]["service"]): Uint8Array {
  const e = new AttrEncoder();
  encodeService(e, { service });
  return e.finish();
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const NAMES = new Map<number, string>(Object.entries(IPVS_CMD).map(([k, v]): [number, string] => [v.id, k]));

export interface FakeKernel {
  transport: ReturnType<typeof fakeGenlTransport>;
  /** The commands that changed something, by name ("NEW_SERVICE"), in order. */
  writes(): string[];
}

/**
 * Reads are answered from `read()` (called at each request, so a test can change what the kernel "has");
 * writes are answered by `write(name, n)` (n counts writes from 1): undefined for success, or an errno.
 */
export function fakeKernel(read: () => TableState, write: (name: string, n: number) => number | undefined = () => undefined): FakeKernel {
  let n = 0;
  const transport = fakeGenlTransport((req: GenlFakeRequest) => {
    const name = NAMES.get(req.cmd) ?? String(req.cmd);
    const t = read();
    switch (name) {
      case "GET_INFO":
        return [reply(req.cmd, (e) => encodeInfo(e, INFO))];
      case "GET_CONFIG":
        return [reply(req.cmd, (e) => encodeTimeouts(e, t.timeouts))];
      case "GET_SERVICE":
        return t.services.map((s) => reply(IPVS_CMD.NEW_SERVICE.id, (e) => encodeService(e, serviceExtendedAttrs(s))));
      case "GET_DEST": {
        const svc = t.services.find((s) => hex(keyAttrs(s.service)) === hex(req.attrs));
        return (svc?.destinations ?? []).map((d) => reply(IPVS_CMD.NEW_DEST.id, (e) => encodeDest(e, destinationAttrs(d))));
      }
      case "GET_DAEMON":
        return t.daemons.map((d) => reply(IPVS_CMD.NEW_DAEMON.id, (e) => encodeDaemon(e, d)));
      default: {
        const errno = write(name, ++n);
        if (errno !== undefined) throw new GenlError("errno", `the kernel rejected the request (errno ${errno})`, req.cmd, errno);
        return [];
      }
    }
  });
  return {
    transport,
    writes: () => transport.requests.map((r) => NAMES.get(r.cmd) ?? "?").filter((x) => !x.startsWith("GET_")),
  };
}

const table = loadFixture("table");

/** The exchanges readSnapshot makes with the kernel recorded in test/fixtures/netlink/table.json, in its order. */
export function recordedTableClient(): { client: IpvsClient; remaining: () => number } {
  const names = ["resolve family", "GET_INFO", "GET_CONFIG", "GET_SERVICE dump", ...table.exchanges.map((e) => e.name).filter((n) => n.startsWith("GET_DEST dump {")), "GET_DAEMON dump"];
  const { transport, conn } = replayTransport(names.map((n) => exchange(table, n)));
  return { client: new IpvsClient(transport), remaining: () => conn.remaining() };
}

/** readSnapshot over replies recorded from Linux 6.1, through the real transport code. */
export async function recordedSnapshot(): Promise<DirectorSnapshot> {
  const { client, remaining } = recordedTableClient();
  const snap = await readSnapshot(client, () => 1_700_000_000_000);
  if (remaining() !== 0) throw new Error("the recording was not replayed to its end");
  return snap;
}
