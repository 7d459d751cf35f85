import { describe, expect, it } from "vitest";

import { createLineSplitter } from "@/server/agent/lines";

function split(max: number, chunks: string[]) {
  const lines: string[] = [];
  let overflows = 0;
  const splitter = createLineSplitter(max, (l) => lines.push(l), () => overflows++);
  for (const c of chunks) splitter.push(Buffer.from(c));
  return { lines, overflows };
}

describe("createLineSplitter", () => {
  it("joins lines split across chunks and splits chunks holding several lines", () => {
    expect(split(100, ['{"id":1', '}\n{"id":2}\n{"i', 'd":3}\n'])).toEqual({
      lines: ['{"id":1}', '{"id":2}', '{"id":3}'],
      overflows: 0,
    });
  });

  it("gathers long lines over many chunks one after another (the buffer it keeps for the next line)", () => {
    const a = "a".repeat(10_000);
    const b = `${"b".repeat(20_000)}é`;
    const text = Buffer.from(`${a}\n${b}\nshort\n${a}\n`);
    const chunks: string[] = [];
    const lines: string[] = [];
    const splitter = createLineSplitter(64_000, (l) => lines.push(l), () => chunks.push("overflow"));
    for (let at = 0; at < text.length; at += 777) splitter.push(text.subarray(at, at + 777));
    expect(lines).toEqual([a, b, "short", a]);
    expect(chunks).toEqual([]);
  });

  it("keeps a multi-byte character that arrives in two chunks", () => {
    const bytes = Buffer.from("é\n");
    const lines: string[] = [];
    const splitter = createLineSplitter(10, (l) => lines.push(l), () => {});
    splitter.push(bytes.subarray(0, 1));
    splitter.push(bytes.subarray(1));
    expect(lines).toEqual(["é"]);
  });

  it("allows a line of exactly the maximum and overflows one byte past it, with or without its newline", () => {
    expect(split(3, ["abc\n"])).toEqual({ lines: ["abc"], overflows: 0 });
    expect(split(3, ["abcd\n"])).toEqual({ lines: [], overflows: 1 });
    expect(split(3, ["ab", "cd"])).toEqual({ lines: [], overflows: 1 });
  });

  it("reports an overflow once and ignores everything after it", () => {
    expect(split(3, ["ok\n", "toolong", "\nfine\n", "more\n"])).toEqual({ lines: ["ok"], overflows: 1 });
  });
});
