// Raw replies recorded from the real kernel (Linux 6.1, test/fixtures/netlink/*.json, made by record.ts in the
// lab), replayed through the real transport and client, and checked against what ipvsadm printed for the same
// table at the same moment.
import { describe, expect, it } from "vitest";
import { AttrCursor, fromHex } from "@/server/kernel/genl/attrs";
import { NativeGenlTransport, type NativeDumpResult } from "@/server/kernel/genl/native";
import { NLMSG_DONE, splitDatagram } from "@/server/kernel/genl/wire";
import { decodeStats } from "@/server/ipvs/netlink/codec";
import { IPVS_SVC_ATTR } from "@/server/ipvs/netlink/constants";
import { IpvsClient, IpvsError } from "@/server/ipvs/netlink/client";
import { sortTable } from "@/server/ipvs/snapshot/model";
import { ipvsadmSaveText } from "@/server/ipvs/snapshot/rules";
import type { Service, ServiceWithDestinations, Stats } from "@/server/ipvs/netlink/types";
import { exchange, lines, loadFixture, oracle, replayTransport, type Fixture } from "./helpers";

const table = loadFixture("table");

/** Rows of an `ipvsadm -Ln ...` listing after its 3 header lines: service rows and "  -> " dest rows. */
function rows(text: string): { dest: boolean; fields: string[] }[] {
  return lines(text)
    .slice(3)
    .map((l) => ({ dest: l.startsWith("  ->"), fields: l.trim().split(/\s+/) }));
}

/** The snapshot in ipvsadm's listing order: each service, then its destinations. */
function listingOrder(t: ServiceWithDestinations[]) {
  return sortTable(t).flatMap((s) => [{ s, d: undefined }, ...s.destinations.map((d) => ({ s, d }))]);
}

/** Replays the recorded session in the order record.ts made it. */
async function replayTable() {
  const { transport, conn } = replayTransport(table.exchanges);
  const client = new IpvsClient(transport);
  await transport.resolveFamily();
  const info = await client.getInfo();
  const timeouts = await client.getConfig();
  const services = await client.listServices();
  const one = await client.getService({ family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 });
  const snapshot: ServiceWithDestinations[] = [];
  for (const s of services) snapshot.push({ ...s, destinations: await client.listDestinations(s.service) });
  const daemons = await client.listDaemons();
  return { client, conn, info, timeouts, services, one, snapshot, daemons };
}

describe("replies recorded from Linux 6.1 (table.json)", () => {
  it("decodes GET_INFO and GET_CONFIG as ipvsadm printed them", async () => {
    const r = await replayTable();
    expect(lines(oracle(table, "ipvsadm -Ln"))[0]).toBe(`IP Virtual Server version ${r.info.version} (size=${r.info.connTableSize})`);
    const t = r.timeouts;
    expect(oracle(table, "ipvsadm -L --timeout").trim()).toBe(`Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpFin} ${t.udp}`);
  });

  it("decodes the service dump and the destination dumps into the rules ipvsadm-save printed", async () => {
    const r = await replayTable();
    expect(r.services).toHaveLength(lines(oracle(table, "ipvsadm-save -n")).filter((l) => l.startsWith("-A")).length);
    expect(ipvsadmSaveText(r.snapshot)).toBe(oracle(table, "ipvsadm-save -n"));
    // a GET_SERVICE for one service decodes like its entry in the dump
    expect(r.one).toEqual(r.services.find((s) => "port" in s.service && s.service.port === 80 && s.service.address === "192.0.2.1"));
  });

  it("decodes what ipvsadm-save leaves out: forwarding names, thresholds, connection counts", async () => {
    const { snapshot } = await replayTable();
    const order = listingOrder(snapshot);
    const fwdName = { masq: "Masq", local: "Local", tunnel: "Tunnel", route: "Route", bypass: "Bypass" } as const;
    const ln = rows(oracle(table, "ipvsadm -Ln"));
    const th = rows(oracle(table, "ipvsadm -Ln --thresholds"));
    const pc = rows(oracle(table, "ipvsadm -Ln --persistent-conn"));
    expect(ln.map((x) => x.dest)).toEqual(order.map((x) => x.d !== undefined));
    order.forEach(({ d }, i) => {
      if (!d) return;
      expect(ln[i]!.fields.slice(2)).toEqual([fwdName[d.forward], String(d.weight), String(d.activeConns), String(d.inactiveConns)]);
      expect(th[i]!.fields.slice(2)).toEqual([d.upperThreshold, d.lowerThreshold, d.activeConns, d.inactiveConns].map(String));
      expect(pc[i]!.fields.slice(2)).toEqual([d.weight, d.persistentConns, d.activeConns, d.inactiveConns].map(String));
    });
    // the values themselves, as set up
    const web = snapshot.find((s) => s.service.family === "inet" && "port" in s.service && s.service.port === 80 && s.service.address === "192.0.2.1")!;
    expect(web.destinations.find((d) => d.address === "198.51.100.2")).toMatchObject({ upperThreshold: 100, lowerThreshold: 10, weight: 0 });
    expect(web.destinations.find((d) => d.address === "198.51.100.4")).toMatchObject({ weight: 100000, tunnel: { type: "gue", port: 6080, csum: false, remcsum: false } });
    expect(web.service.netmask).toEqual({ kind: "mask", mask: "255.255.255.0" });
    expect(web).toMatchObject({ scheduler: "wlc", timeout: 300, flags: { persistent: true, hashed: true, onePacket: false } });
  });

  it("reads 64-bit counters equal to ipvsadm --stats --exact", async () => {
    const { snapshot } = await replayTable();
    const order = listingOrder(snapshot);
    const stats = rows(oracle(table, "ipvsadm -Ln --stats --exact"));
    order.forEach(({ s, d }, i) => {
      const st = (d ?? s).stats!;
      expect(st.width).toBe(64);
      expect(stats[i]!.fields.slice(-5).map(BigInt)).toEqual([st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes]);
    });
    // the traffic the recording sent: 20 datagrams of 92 bytes to the UDP service, one connection each (-o)
    const udp = snapshot.find((s) => "protocol" in s.service && s.service.protocol === "udp")!;
    expect(udp.stats).toMatchObject({ conns: 20n, inPkts: 20n, inBytes: 1840n });
  });

  it("reads the same counters and rates from STATS64 as from the kernel's 32-bit STATS nest", () => {
    // Rates are estimates that move every 2 s, so ipvsadm --rate, read a moment apart, is no oracle for them;
    // the kernel's two nests in one reply are.
    const dump = exchange(table, "GET_SERVICE dump").datagrams.filter((d) => d.dir === "in");
    const msgs = dump.flatMap((d) => splitDatagram(fromHex(d.hex)).messages).filter((m) => m.type >= 0x10);
    let compared = 0;
    for (const m of msgs) {
      const svc = new AttrCursor(m.payload.subarray(4));
      svc.next();
      const c = svc.nested();
      const got: Partial<Record<number, Stats>> = {};
      while (c.next()) if (c.type === IPVS_SVC_ATTR.STATS.id || c.type === IPVS_SVC_ATTR.STATS64.id) got[c.type] = decodeStats(c.nested(), c.type === IPVS_SVC_ATTR.STATS.id ? 32 : 64);
      expect(c.problem).toBeUndefined();
      expect({ ...got[IPVS_SVC_ATTR.STATS.id]!, width: 0 }).toEqual({ ...got[IPVS_SVC_ATTR.STATS64.id]!, width: 0 });
      compared++;
    }
    expect(compared).toBe(msgs.length);
    expect(msgs.length).toBeGreaterThan(5);
  });

  it("decodes the sync daemons as ipvsadm -L --daemon printed them", async () => {
    const { daemons } = await replayTable();
    const printed = daemons.map((d) => `${d.state} sync daemon (mcast=${d.mcastInterface}, syncid=${d.syncId}, maxlen=${d.syncMaxLen}, group=${d.mcastGroup}, port=${d.mcastPort}, ttl=${d.mcastTtl})\n`);
    expect(printed.join("")).toBe(oracle(table, "ipvsadm -L --daemon"));
  });

  it("maps each recorded kernel error to its IpvsError", async () => {
    const vip: Service = { family: "inet", protocol: "tcp", address: "192.0.2.1", port: 80 };
    const cases: [string, (c: IpvsClient) => Promise<unknown>, string, string, string][] = [
      ["NEW_SERVICE exists", (c) => c.newService({ service: vip, scheduler: "rr" }), "exists", "EEXIST", "service already exists: TCP 192.0.2.1:80"],
      ["NEW_SERVICE unknown scheduler", (c) => c.newService({ service: { ...vip, address: "192.0.2.2" }, scheduler: "nosuch" }), "scheduler-missing", "ENOENT", "scheduler module ip_vs_nosuch not available"],
      ["GET_SERVICE missing", (c) => c.getService({ ...vip, port: 81 }), "not-found", "ESRCH", "no such service: TCP 192.0.2.1:81"],
      ["DEL_SERVICE missing", (c) => c.delService({ ...vip, port: 81 }), "not-found", "ESRCH", "no such service: TCP 192.0.2.1:81"],
      ["NEW_DEST exists", (c) => c.newDest(vip, { address: "198.51.100.3", port: 80, forward: "route", weight: 1 }), "exists", "EEXIST", "destination already exists: 198.51.100.3:80 in TCP 192.0.2.1:80"],
      ["DEL_DEST missing", (c) => c.delDest(vip, { address: "198.51.100.77", port: 80 }), "not-found", "ENOENT", "no such destination: 198.51.100.77:80 in TCP 192.0.2.1:80"],
      ["NEW_DEST weight above INT_MAX", (c) => c.newDest(vip, { address: "198.51.100.8", port: 80, forward: "route", weight: 2 ** 31 }), "out-of-range", "ERANGE", "destination 198.51.100.8:80 rejected: weight must be 0..2147483647 and the lower threshold not above the upper"],
      ["NEW_DAEMON running", (c) => c.newDaemon({ state: "master", mcastInterface: "v0", syncId: 5 }), "daemon-running", "EEXIST", "the master sync daemon is already running"],
      ["DEL_DAEMON not running", (c) => c.delDaemon("backup"), "daemon-stopped", "ESRCH", "no backup sync daemon is running"],
      ["NEW_DAEMON no device", (c) => c.newDaemon({ state: "backup", mcastInterface: "nosuch0", syncId: 1 }), "no-device", "ENODEV", "no such network interface: nosuch0"],
    ];
    for (const [name, call, kind, code, message] of cases) {
      const { transport } = replayTransport([exchange(table, "resolve family"), exchange(table, name)]);
      const e = await call(new IpvsClient(transport)).then(() => undefined, (x: unknown) => x);
      expect(e, name).toBeInstanceOf(IpvsError);
      expect({ kind: (e as IpvsError).kind, code: (e as IpvsError).code, message: (e as IpvsError).message }, name).toEqual({ kind, code, message });
    }
    const { transport } = replayTransport([exchange(table, "resolve family"), exchange(table, "NEW_DEST mapped address")]);
    const inv = await new IpvsClient(transport)
      .newDest({ family: "inet6", protocol: "tcp", address: "::ffff:192.0.2.1", port: 80 }, { address: "::ffff:198.51.100.2", port: 80, forward: "masq", weight: 1 })
      .catch((x: unknown) => x as IpvsError);
    expect(inv).toMatchObject({ kind: "invalid", code: "EINVAL" });
    expect(inv!.message).toBe(
      "the kernel rejected IPVS_CMD_NEW_DEST as invalid (TCP [::ffff:192.0.2.1]:80, destination [::ffff:198.51.100.2]:80); " +
        "sent IPVS_CMD_ATTR_SERVICE{AF(2) PROTOCOL(2) ADDR(16) PORT(2)} IPVS_CMD_ATTR_DEST{ADDR(16) PORT(2) FWD_METHOD(4) WEIGHT(4) U_THRESH(4) L_THRESH(4)}",
    );
  });

  it("answers an empty destination dump for a service that does not exist", async () => {
    const { transport } = replayTransport([exchange(table, "resolve family"), exchange(table, "GET_DEST dump missing service")]);
    expect(await new IpvsClient(transport).listDestinations({ family: "inet", protocol: "tcp", address: "192.0.2.1", port: 81 })).toEqual([]);
  });
});

describe("a dump spread over many datagrams (many-services.json)", () => {
  const many = loadFixture("many-services");
  it("collects every datagram until NLMSG_DONE and decodes 300 services", async () => {
    const [ex] = many.exchanges;
    expect(ex!.datagrams.filter((d) => d.dir === "in").length).toBeGreaterThan(10);
    const { transport } = replayTransport(many.exchanges);
    const services = await new IpvsClient(transport).listServices();
    expect(services).toHaveLength(300);
    expect(ipvsadmSaveText(services.map((s) => ({ ...s, destinations: [] })))).toBe(oracle(many, "ipvsadm-save -n"));
  });

  it("reports a datagram cut short in the middle of the dump instead of decoding garbage", async () => {
    const cut = structuredClone(many.exchanges);
    const ins = cut[0]!.datagrams.filter((d) => d.dir === "in");
    const victim = ins[5]!;
    const bytes = fromHex(victim.hex);
    victim.hex = Buffer.from(bytes.subarray(0, bytes.length - 100)).toString("hex");
    const { transport } = replayTransport(cut);
    await expect(new IpvsClient(transport).listServices()).rejects.toMatchObject({ kind: "protocol", op: "GET_SERVICE" });
  });
});

describe("the recorded table through the native engine's path (table.json)", () => {
  /** A stand-in for the addon's Engine that answers each dump with the kernel's recorded replies for that
   *  request, laid out as native/genl lays them out: one buffer of genetlink messages and its index. */
  function recordedEngine(f: Fixture) {
    const byRequest = new Map<string, Uint8Array[]>();
    for (const e of f.exchanges) {
      if (!e.name.endsWith(" dump") && !e.name.startsWith("GET_DEST dump {")) continue;
      const [out, ...ins] = e.datagrams;
      const request = Buffer.from(fromHex(out!.hex).subarray(16 + 4)).toString("hex");
      const msgs = ins.flatMap((d) => splitDatagram(fromHex(d.hex)).messages.filter((m) => m.type !== NLMSG_DONE).map((m) => m.payload));
      byRequest.set(`${fromHex(out!.hex)[16]}:${request}`, msgs);
    }
    const engine = {
      async dump(_type: number, cmd: number, _version: number, requests: readonly Uint8Array[]): Promise<NativeDumpResult> {
        const per = requests.map((r) => {
          const msgs = byRequest.get(`${cmd}:${Buffer.from(r).toString("hex")}`);
          if (!msgs) throw Object.assign(new Error("not recorded"), { kind: "protocol" });
          return msgs;
        });
        const all = per.flat();
        const ranges = new Int32Array(2 * per.length);
        const messages = new Int32Array(2 * all.length);
        let k = 0;
        let off = 0;
        per.forEach((msgs, i) => {
          ranges[2 * i] = k;
          ranges[2 * i + 1] = msgs.length;
          for (const m of msgs) {
            messages[2 * k++] = off;
            messages[2 * k - 1] = m.length;
            off += m.length;
          }
        });
        return { data: Buffer.concat(all), ranges, messages };
      },
      close() {},
      ports: () => [1],
    };
    const fallback = { resolveFamily: async () => 0x20, request: async () => [], close() {} };
    return new NativeGenlTransport({ Engine: function () { return engine; } as never }, fallback, { version: 1, chunk: 3 });
  }

  it("snapshot() decodes the replies in place (doneSpans) into what the socket transport's path gives", async () => {
    const { snapshot } = await replayTable();
    const viaEngine = await new IpvsClient(recordedEngine(table)).snapshot();
    expect(viaEngine).toEqual(snapshot);
    expect(ipvsadmSaveText(viaEngine)).toBe(oracle(table, "ipvsadm-save -n"));
    expect(viaEngine.reduce((n, s) => n + s.destinations.length, 0)).toBeGreaterThan(5);
  });
});

describe("no CAP_NET_ADMIN (eperm.json)", () => {
  it("maps the kernel's EPERM to the permission error", async () => {
    const { transport } = replayTransport(loadFixture("eperm").exchanges);
    await expect(new IpvsClient(transport).getInfo()).rejects.toMatchObject({
      kind: "permission",
      code: "EPERM",
      message: "permission denied: run as root or grant CAP_NET_ADMIN",
    });
  });
});
