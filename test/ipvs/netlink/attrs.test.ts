// The attribute cursor and encoder (server/kernel/genl/attrs.ts): every length is checked, the first problem
// is remembered and reported with where it was, payloads are views, unknown attributes are kept as they came.
import { describe, expect, it } from "vitest";
import { AttrCursor, AttrEncoder, fromHex, toHex } from "@/server/kernel/genl/attrs";

describe("AttrEncoder", () => {
  it("writes nla_len without padding and pads each attribute to 4 bytes", () => {
    const b = new AttrEncoder().u8(1, 0xab).u16(2, 0x1234).be16(3, 80).u32(4, 0xdeadbeef).string(5, "wlc").finish();
    expect(toHex(b)).toBe(
      [
        "0500" + "0100" + "ab000000", // len 5, type 1, u8 + 3 pad
        "0600" + "0200" + "34120000", // u16 host order
        "0600" + "0300" + "00500000", // be16: port 80 in network order
        "0800" + "0400" + "efbeadde",
        "0800" + "0500" + "776c6300", // "wlc\0"
      ].join(""),
    );
  });

  it("writes u64 and nested attributes", () => {
    const b = new AttrEncoder().nested(1, (n) => n.u64(2, 0x0102030405060708n)).finish();
    expect(toHex(b)).toBe("1000" + "0100" + "0c00" + "0200" + "0807060504030201");
  });
});

describe("AttrCursor", () => {
  it("reads every width back, and nested streams", () => {
    const b = new AttrEncoder()
      .u8(1, 7)
      .u16(2, 65535)
      .be16(3, 8080)
      .u32(4, 4294967295)
      .be32(5, 0xffffff00)
      .u64(6, 18446744073709551615n)
      .string(7, "eth0")
      .nested(8, (n) => n.u32(1, 42))
      .finish();
    const c = new AttrCursor(b);
    const seen: unknown[] = [];
    while (c.next()) {
      switch (c.type) {
        case 1: seen.push(c.u8()); break;
        case 2: seen.push(c.u16()); break;
        case 3: seen.push(c.be16()); break;
        case 4: seen.push(c.u32()); break;
        case 5: seen.push(c.be32()); break;
        case 6: seen.push(c.u64()); break;
        case 7: seen.push(c.string()); break;
        case 8: {
          const n = c.nested();
          n.next();
          seen.push(n.u32());
          break;
        }
      }
    }
    expect(c.problem).toBeUndefined();
    expect(seen).toEqual([7, 65535, 8080, 4294967295, 0xffffff00, 18446744073709551615n, "eth0", 42]);
  });

  it("hands out views into the original bytes, not copies", () => {
    const b = new AttrEncoder().u32(1, 5).finish();
    const c = new AttrCursor(b);
    c.next();
    const v = c.bytes();
    expect(v.buffer).toBe(b.buffer);
    expect(v.byteOffset).toBe(4);
    expect(c.raw()).toEqual({ type: 1, nested: false, value: v });
  });

  it("separates the NLA_F_NESTED flag from the type", () => {
    const c = new AttrCursor(fromHex("0800" + "0180" + "00000000"));
    c.next();
    expect(c.type).toBe(1);
    expect(c.raw().nested).toBe(true);
  });

  it("reports an attribute that runs past the end as truncated, with its offset", () => {
    const b = fromHex("0800" + "0100" + "01000000" + "0c00" + "0200" + "01000000"); // second claims 12, has 8
    const c = new AttrCursor(b, "outer");
    expect(c.next()).toBe(true);
    expect(c.u32()).toBe(1);
    expect(c.next()).toBe(false);
    expect(c.problem).toMatchObject({ kind: "truncated", offset: 8, path: "outer" });
    expect(c.problem!.message).toMatch(/nla_len 12 runs past the end \(8 bytes left\)/);
  });

  it("reports nla_len below the header size as malformed, and stops there", () => {
    const c = new AttrCursor(fromHex("0200" + "0100" + "0800" + "0200" + "01000000"));
    expect(c.next()).toBe(false);
    expect(c.problem).toMatchObject({ kind: "malformed", offset: 0 });
    expect(c.next()).toBe(false);
  });

  it("reports trailing bytes shorter than a header as truncated", () => {
    const c = new AttrCursor(fromHex("0800" + "0100" + "01000000" + "0800"));
    expect(c.next()).toBe(true);
    expect(c.next()).toBe(false);
    expect(c.problem).toMatchObject({ kind: "truncated", offset: 8 });
  });

  it("reports a payload of the wrong width, names it, and remembers only the first problem", () => {
    const b = new AttrEncoder().nested(10, (n) => n.u32(1, 3).u32(4, 9)).u16(2, 1).finish(); // u64 field sent as u32
    const c = new AttrCursor(b, "IPVS_CMD_ATTR_SERVICE");
    c.next();
    c.label("IPVS_SVC_ATTR_STATS64");
    const s = c.nested();
    s.next();
    s.label("IPVS_STATS_ATTR_CONNS");
    expect(s.u64()).toBe(0n); // zero value, problem recorded
    s.next();
    expect(c.problem).toMatchObject({ kind: "truncated", path: "IPVS_CMD_ATTR_SERVICE > IPVS_SVC_ATTR_STATS64 > IPVS_STATS_ATTR_CONNS", offset: 0 });
    expect(c.problem!.message).toBe("expected a 8-byte payload, got 4");
    // the parent stops too, and a later problem does not replace the first
    expect(c.next()).toBe(false);
    c.fail("malformed", "something later");
    expect(c.problem!.message).toBe("expected a 8-byte payload, got 4");
  });

  it("calls a too-long fixed payload malformed, and a string without NUL malformed", () => {
    const c = new AttrCursor(new AttrEncoder().bytes(1, Uint8Array.of(1, 2, 3)).finish());
    c.next();
    expect(c.u16()).toBe(0);
    expect(c.problem).toMatchObject({ kind: "malformed", message: "expected a 2-byte payload, got 3" });
    const s = new AttrCursor(new AttrEncoder().bytes(1, new TextEncoder().encode("rr")).finish());
    s.next();
    expect(s.string()).toBe("");
    expect(s.problem).toMatchObject({ kind: "malformed", message: "2-byte string has no terminating NUL" });
  });

  it("accepts a last attribute whose padding is missing", () => {
    const c = new AttrCursor(fromHex("0500" + "0100" + "2a"));
    expect(c.next()).toBe(true);
    expect(c.u8()).toBe(42);
    expect(c.next()).toBe(false);
    expect(c.problem).toBeUndefined();
  });

  it("reads strings in place: ASCII, UTF-8, and a NUL inside the payload ends it", () => {
    const utf8 = new TextEncoder().encode("réseau");
    const b = new AttrEncoder().string(1, "wlc").string(2, "réseau").bytes(3, Uint8Array.of(0x61, 0, 0x62, 0)).bytes(4, Uint8Array.of(...utf8)).finish();
    const c = new AttrCursor(b);
    const got: string[] = [];
    while (c.next()) got.push(c.string());
    expect(got.slice(0, 3)).toEqual(["wlc", "réseau", "a"]);
    expect(got[3]).toBe("");
    expect(c.problem).toMatchObject({ kind: "malformed", path: "4", message: `${utf8.length}-byte string has no terminating NUL` });
  });

  it("shares the zero bigint for a zero u64 and reads the others whole", () => {
    const c = new AttrCursor(new AttrEncoder().u64(1, 0n).u64(2, 1n << 32n).u64(3, 0xffffffffffffffffn).u64(4, 5n).finish());
    const got: bigint[] = [];
    while (c.next()) got.push(c.u64());
    expect(got).toEqual([0n, 1n << 32n, 0xffffffffffffffffn, 5n]);
  });

  it("walks a view inside a larger buffer with offsets relative to the view", () => {
    const stream = new AttrEncoder().u32(1, 7).bytes(2, Uint8Array.of(9, 9)).finish();
    const big = new Uint8Array(stream.length + 13);
    big.set(stream, 5);
    const view = big.subarray(5, 5 + stream.length);
    const c = new AttrCursor(view);
    c.next();
    expect(c.u32()).toBe(7);
    expect(c.source[c.payloadAt]).toBe(7);
    c.next();
    expect(Array.from(c.bytes())).toEqual([9, 9]);
    expect(c.u32()).toBe(0);
    expect(c.problem).toMatchObject({ kind: "truncated", offset: 8, message: "expected a 4-byte payload, got 2" });
  });

  it("firstNest: a cursor over the first nest of a type when the level is well formed, else none", () => {
    const names = (t: number) => `T${t}`;
    const b = new AttrEncoder().u32(4, 1).nested(2, (n) => n.u16(1, 5)).nested(2, (n) => n.u16(1, 6)).finish();
    const c = AttrCursor.firstNest(b, 2, names)!;
    c.next();
    expect(c.u16()).toBe(5);
    expect(c.next()).toBe(false);
    expect(AttrCursor.firstNest(b, 3)).toBeUndefined();
    // a problem inside the nest is named as nested() names it
    const bad = new AttrEncoder().nested(2, (n) => n.bytes(1, Uint8Array.of(1, 2, 3))).finish();
    const n = AttrCursor.firstNest(bad, 2, names)!;
    n.next();
    n.u16();
    expect(n.problem).toMatchObject({ kind: "malformed", path: "T2 > 1", offset: 0 });
    const top = new AttrCursor(bad).names(names);
    top.next();
    const m = top.nested();
    m.next();
    m.u16();
    expect(m.problem).toEqual(n.problem);
    // a level with a bad length anywhere (here after the nest) is left to a cursor
    expect(AttrCursor.firstNest(Uint8Array.of(...b, 0x03, 0x00, 0x01, 0x00), 2)).toBeUndefined();
    expect(AttrCursor.firstNest(Uint8Array.of(...b, 0x09, 0x00), 2)).toBeUndefined();
  });

  it("nestedAt: a nest met earlier at this level, named by its label", () => {
    const b = new AttrEncoder().nested(10, (n) => n.u32(1, 3)).u16(2, 1).finish();
    const c = new AttrCursor(b, "SVC");
    c.next();
    const at = c.payloadAt;
    const len = c.length;
    c.next();
    const s = c.nestedAt(at, len, "STATS");
    s.next();
    expect(s.u64()).toBe(0n);
    expect(c.problem).toMatchObject({ kind: "truncated", path: "SVC > STATS > 1" });
    expect(() => c.nestedAt(at, b.length, "STATS")).toThrow(RangeError);
  });
});
