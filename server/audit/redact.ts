// What the audit log keeps of a procedure's input: the input as JSON, with secrets replaced by "[redacted]"
// and anything large cut short, so that the log says what was asked without becoming a copy of every
// password or rules file sent to the server.

/** Object keys whose values are never written down (matched on the whole key, case-insensitively). */
const SECRET_KEY = /(^|_|-)?(password|passwd|passphrase|secret|token|credentials?|cookie|authorization|private_?key|api_?key|psk)$/i;

export const REDACTED = "[redacted]";

const MAX_STRING = 200;
const MAX_ITEMS = 50;
const MAX_DEPTH = 6;
export const MAX_SUMMARY = 4000;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A copy of `value` safe to store: secrets redacted, long strings and lists shortened, depth bounded. */
export function redact(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === "string") return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object") return `[${typeof value}]`;
  if (depth >= MAX_DEPTH) return "…";
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => redact(v, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`… (${value.length - MAX_ITEMS} more)`);
    return items;
  }
  if (value instanceof Date) return value.toISOString();
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

/** The redacted input as one JSON string of at most MAX_SUMMARY characters ("" for no input). */
export function summarizeInput(input: unknown): string {
  if (input === undefined) return "";
  const json = JSON.stringify(redact(input)) ?? "";
  return json.length > MAX_SUMMARY ? `${json.slice(0, MAX_SUMMARY - 1)}…` : json;
}
