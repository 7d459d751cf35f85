// Command-line options of the benchmark scripts: `--name value`, read from process.argv.

/** The value after `--name`, or `fallback` when the option is not given. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** A numeric `--name value`; a value that is not a number stops the script with a message saying which. */
export function numberOption(name: string, fallback: number): number {
  const text = option(name, String(fallback));
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) throw new Error(`--${name} takes a number, not ${JSON.stringify(text)}`);
  return n;
}
