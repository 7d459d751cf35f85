// Password hashing: scrypt (node:crypto), salted, with its parameters stored beside the hash so that they can
// be raised later without locking anyone out (verify reads them back; needsRehash says when to upgrade).
//
// Stored form, in the PHC string format that argon2 and passlib use:
//
//   $scrypt$ln=16,r=8,p=1$<salt, base64 without padding>$<hash, base64 without padding>
//    │       │    │   └ parallelism
//    │       │    └ block size (x 128 bytes)
//    │       └ log2 of N, the CPU/memory cost: 128 * N * r bytes of memory (64 MiB at ln=16, r=8)
//    └ the algorithm
//
// ln=16, r=8, p=1 is OWASP's "N=2^16" scrypt setting: about 0.1-0.25 s and 64 MiB per hash. Logins run
// through a concurrency gate (limiter.ts) so that a flood cannot make the server hold many of them at once.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

export interface ScryptParams {
  /** log2 of the cost N. */
  ln: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { ln: 16, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Parameters past these are refused when reading a stored hash: a tampered row must not make us allocate GBs. */
const MAX_LN = 20;
const MAX_R = 32;
const MAX_P = 16;

/** Passwords are 8..1024 characters: long enough to mean something, short enough not to be a DoS lever. */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

function scryptAsync(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r * params.p + 32 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFC"), salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

/** Hashes a password with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, HASH_BYTES, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

interface Parsed {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

function parse(stored: string): Parsed | null {
  const m = PHC.exec(stored);
  if (!m) return null;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.ln < 1 || params.ln > MAX_LN || params.r < 1 || params.r > MAX_R || params.p < 1 || params.p > MAX_P) return null;
  return { params, salt: Buffer.from(m[4]!, "base64"), hash: Buffer.from(m[5]!, "base64") };
}

/** True when `password` matches `stored`. A malformed stored hash never matches (and does not throw). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || parsed.hash.length < 16) return false;
  const candidate = await scryptAsync(password, parsed.salt, parsed.hash.length, parsed.params);
  return timingSafeEqual(candidate, parsed.hash);
}

/** True when `stored` was made with weaker parameters than `current` (rehash it at the next good login). */
export function needsRehash(stored: string, current: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parse(stored);
  if (!parsed) return true;
  const { ln, r, p } = parsed.params;
  return ln < current.ln || r < current.r || p < current.p;
}

/**
 * A hash of a random password, made once per process: logins for unknown users are checked against it, so
 * that "no such user" takes as long as "wrong password" (no user enumeration by timing).
 */
const dummies = new Map<string, Promise<string>>();
export function dummyHash(params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const key = `${params.ln},${params.r},${params.p}`;
  let hash = dummies.get(key);
  if (!hash) dummies.set(key, (hash = hashPassword(randomBytes(16).toString("hex"), params)));
  return hash;
}

/** Why a new password is not acceptable, or null. */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `the password must have at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `the password must have at most ${MAX_PASSWORD_LENGTH} characters`;
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return "the password must not be the user name";
  return null;
}
