// A CliIo that keeps what a command writes, for the CLI tests (unit and real-kernel).
import type { CliIo } from "@/server/cli/context";

export function captureIo(files: Record<string, string> = {}, stdin = ""): CliIo & { out: string; err: string } {
  const io = {
    out: "",
    err: "",
    stdout(text: string) {
      io.out += text;
    },
    stderr(text: string) {
      io.err += text;
    },
    readStdin: async () => stdin,
    readFile: async (path: string) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
      return text;
    },
  };
  return io;
}
