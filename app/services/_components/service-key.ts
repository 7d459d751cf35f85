// The service key in a page's path: percent-encoded ("tcp%2F192.0.2.100%3A80" for "tcp/192.0.2.100:80", the
// history key of server/history/keys.ts). Keys never contain "%" themselves.
export function decodeServiceKey(raw: string): string {
  try {
    return raw.includes("%") ? decodeURIComponent(raw) : raw;
  } catch {
    return raw;
  }
}
