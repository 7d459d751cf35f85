// Splits a byte stream into "\n"-terminated lines with a cap on line length, for both ends of the agent socket.
// The cap is checked as bytes arrive, so a peer that never sends "\n" cannot make us buffer without bound.

export interface LineSplitter {
  /** Feeds bytes; calls onLine for each complete line, or onOverflow once and then ignores everything. */
  push(chunk: Buffer): void;
}

export function createLineSplitter(
  maxLineBytes: number,
  onLine: (line: string) => void,
  onOverflow: () => void,
): LineSplitter {
  let parts: Buffer[] = [];
  let buffered = 0;
  let overflowed = false;
  return {
    push(chunk) {
      let rest = chunk;
      while (!overflowed) {
        const nl = rest.indexOf(0x0a);
        if (nl < 0) {
          buffered += rest.length;
          if (buffered > maxLineBytes) break;
          if (rest.length > 0) parts.push(rest);
          return;
        }
        if (buffered + nl > maxLineBytes) break;
        parts.push(rest.subarray(0, nl));
        const line = Buffer.concat(parts, buffered + nl).toString("utf8");
        parts = [];
        buffered = 0;
        rest = rest.subarray(nl + 1);
        onLine(line);
      }
      if (!overflowed) {
        overflowed = true;
        parts = [];
        onOverflow();
      }
    },
  };
}
