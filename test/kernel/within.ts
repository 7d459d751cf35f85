// Polling for the real-kernel tests: asks `done` every 250 ms until it gives a value; returns it with the
// seconds it took, or null after `limitS` seconds.
export async function within<T>(limitS: number, done: () => Promise<T | null>): Promise<{ value: T; seconds: number } | null> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitS * 1000) {
    const value = await done();
    if (value !== null) return { value, seconds: (Date.now() - t0) / 1000 };
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}
