// Splits a byte stream into "\n"-terminated lines with a cap on line length, for both ends of the agent socket.
// The cap is checked as bytes arrive, so a peer that never sends "\n" cannot make us buffer without bound.
//
// A line that spans chunks is gathered in one buffer that is kept for the next one (it grows by doubling up to
// the cap): the live sampler's reply is about 750 KiB every second, and a fresh Buffer.concat of it each time
// was a large allocation a tick for the allocator to place and give back.

export interface LineSplitter {
  /** Feeds bytes; calls onLine for each complete line, or onOverflow once and then ignores everything. */
  push(chunk: Buffer): void;
}

export function createLineSplitter(
  maxLineBytes: number,
  onLine: (line: string) => void,
  onOverflow: () => void,
): LineSplitter {
  let held = Buffer.alloc(0);
  let buffered = 0;
  let overflowed = false;
  const hold = (bytes: Buffer) => {
    if (buffered + bytes.length > held.length) {
      const bigger = Buffer.allocUnsafe(Math.min(maxLineBytes, Math.max(2 * held.length, buffered + bytes.length, 4096)));
      held.copy(bigger, 0, 0, buffered);
      held = bigger;
    }
    bytes.copy(held, buffered);
    buffered += bytes.length;
  };
  return {
    push(chunk) {
      let rest = chunk;
      while (!overflowed) {
        const nl = rest.indexOf(0x0a);
        if (nl < 0) {
          if (buffered + rest.length > maxLineBytes) break;
          hold(rest);
          return;
        }
        if (buffered + nl > maxLineBytes) break;
        let line: string;
        if (buffered === 0) line = rest.toString("utf8", 0, nl);
        else {
          hold(rest.subarray(0, nl));
          line = held.toString("utf8", 0, buffered);
          buffered = 0;
        }
        rest = rest.subarray(nl + 1);
        onLine(line);
      }
      if (!overflowed) {
        overflowed = true;
        held = Buffer.alloc(0);
        buffered = 0;
        onOverflow();
      }
    },
  };
}
