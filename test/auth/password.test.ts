// scrypt hashing: salted, parameters stored with the hash, verify in constant time, refusal of tampered rows.
import { describe, expect, it } from "vitest";

import { dummyHash, hashPassword, needsRehash, passwordProblem, verifyPassword } from "@/server/auth/password";

const FAST = { ln: 4, r: 8, p: 1 };

describe("hashPassword / verifyPassword", () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const stored = await hashPassword("correct horse battery", FAST);
    await expect(verifyPassword("correct horse battery", stored)).resolves.toBe(true);
    await expect(verifyPassword("correct horse batterY", stored)).resolves.toBe(false);
    await expect(verifyPassword("", stored)).resolves.toBe(false);
  });

  it("salts: the same password hashes differently each time, and neither contains it", async () => {
    const a = await hashPassword("hunter22hunter22", FAST);
    const b = await hashPassword("hunter22hunter22", FAST);
    expect(a).not.toBe(b);
    expect(a).not.toContain("hunter22");
    await expect(verifyPassword("hunter22hunter22", b)).resolves.toBe(true);
  });

  it("stores its parameters in PHC form, and the default is scrypt N=2^16, r=8, p=1", async () => {
    expect(await hashPassword("x", FAST)).toMatch(/^\$scrypt\$ln=4,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const real = await hashPassword("a real password");
    expect(real.startsWith("$scrypt$ln=16,r=8,p=1$")).toBe(true);
    await expect(verifyPassword("a real password", real)).resolves.toBe(true);
  });

  it("verifies with the stored parameters, and says when they are below the current ones", async () => {
    const weak = await hashPassword("pw-pw-pw-pw", FAST);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(weak, FAST)).toBe(false);
    await expect(verifyPassword("pw-pw-pw-pw", weak)).resolves.toBe(true);
  });

  it("normalizes Unicode (NFC): the same password typed precomposed or decomposed matches", async () => {
    const stored = await hashPassword("caf\u00e9-password", FAST);
    await expect(verifyPassword("cafe\u0301-password", stored)).resolves.toBe(true);
  });

  it("never matches a malformed or tampered hash, and refuses absurd parameters instead of allocating them", async () => {
    const good = await hashPassword("pw-pw-pw-pw", FAST);
    for (const bad of ["", "plain", "$scrypt$placeholder", good.replace("ln=4", "ln=40"), good.replace("r=8", "r=999"), good.replace(/\$[^$]+$/, "$AAAA")]) {
      await expect(verifyPassword("pw-pw-pw-pw", bad)).resolves.toBe(false);
    }
  });

  it("has a dummy hash for unknown users that no password matches", async () => {
    const dummy = await dummyHash(FAST);
    expect(dummy).toBe(await dummyHash(FAST));
    await expect(verifyPassword("", dummy)).resolves.toBe(false);
  });
});

describe("passwordProblem", () => {
  it("asks for 8..1024 characters and not the user name", () => {
    expect(passwordProblem("short")).toMatch(/at least 8/);
    expect(passwordProblem("x".repeat(1025))).toMatch(/at most 1024/);
    expect(passwordProblem("Administrator", "administrator")).toMatch(/user name/);
    expect(passwordProblem("a fine passphrase", "alice")).toBeNull();
  });
});
