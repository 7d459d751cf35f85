// The registry of paired real-server agents: URL, token, pinned certificate, and what the agent said about
// itself when last asked. One SQLite file (better-sqlite3, WAL) in the data directory: realservers.sqlite,
// beside history and auth. The file holds bearer tokens: it is created 0600, and list() never returns them.
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

import Database from "better-sqlite3";

export const REALSERVERS_DB_FILE = "realservers.sqlite";

export interface PairedRealServer {
  id: number;
  /** What the admin calls it (default: the agent's hostname). */
  name: string;
  url: string;
  /** HTTPS: the pinned certificate fingerprint. */
  fingerprint: string | null;
  /** The agent's hostname when it was paired or last answered. */
  hostname: string;
  /** The real server's IPv4 addresses (not lo) when last asked: to match it with IPVS destinations. */
  addresses: string[];
  pairedAt: number;
  lastSeenAt: number | null;
}

/** A registry entry with its secret: only for the client that calls the agent. */
export interface RealServerCredentials extends PairedRealServer {
  token: string;
}

interface Row {
  id: number;
  name: string;
  url: string;
  token: string;
  fingerprint: string | null;
  hostname: string;
  addresses: string;
  paired_at: number;
  last_seen_at: number | null;
}

const toPaired = (r: Row): PairedRealServer => ({
  id: r.id,
  name: r.name,
  url: r.url,
  fingerprint: r.fingerprint,
  hostname: r.hostname,
  addresses: JSON.parse(r.addresses) as string[],
  pairedAt: r.paired_at,
  lastSeenAt: r.last_seen_at,
});

export class RealServerStore {
  private constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS realservers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        url TEXT NOT NULL UNIQUE,
        token TEXT NOT NULL,
        fingerprint TEXT,
        hostname TEXT NOT NULL,
        addresses TEXT NOT NULL DEFAULT '[]',
        paired_at INTEGER NOT NULL,
        last_seen_at INTEGER
      )`);
  }

  /** Opens (creating if needed) `dir`/realservers.sqlite, mode 0600; ":memory:" for a throw-away store. */
  static open(dir: string): RealServerStore {
    if (dir === ":memory:") return new RealServerStore(new Database(":memory:"));
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const file = join(dir, REALSERVERS_DB_FILE);
    // Created 0600 before SQLite opens it (it would use the umask); tightened if it already existed.
    closeSync(openSync(file, "a", 0o600));
    chmodSync(file, 0o600);
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    return new RealServerStore(db);
  }

  close(): void {
    this.db.close();
  }

  list(): PairedRealServer[] {
    return this.db.prepare<[], Row>("SELECT * FROM realservers ORDER BY name, id").all().map(toPaired);
  }

  get(id: number): RealServerCredentials | null {
    const r = this.db.prepare<[number], Row>("SELECT * FROM realservers WHERE id = ?").get(id);
    return r ? { ...toPaired(r), token: r.token } : null;
  }

  /** Adds an agent, or replaces the token, name and fingerprint of the one at the same URL (re-pairing). */
  upsert(entry: { name: string; url: string; token: string; fingerprint: string | null; hostname: string; addresses: string[]; at: number }): PairedRealServer {
    const r = this.db
      .prepare<[string, string, string, string | null, string, string, number, number], Row>(
        `INSERT INTO realservers (name, url, token, fingerprint, hostname, addresses, paired_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(url) DO UPDATE SET name = excluded.name, token = excluded.token, fingerprint = excluded.fingerprint,
           hostname = excluded.hostname, addresses = excluded.addresses, paired_at = excluded.paired_at,
           last_seen_at = excluded.last_seen_at
         RETURNING *`,
      )
      .get(entry.name, entry.url, entry.token, entry.fingerprint, entry.hostname, JSON.stringify(entry.addresses), entry.at, entry.at)!;
    return toPaired(r);
  }

  seen(id: number, hostname: string, addresses: string[], at: number): void {
    this.db.prepare("UPDATE realservers SET hostname = ?, addresses = ?, last_seen_at = ? WHERE id = ?").run(hostname, JSON.stringify(addresses), at, id);
  }

  remove(id: number): boolean {
    return this.db.prepare("DELETE FROM realservers WHERE id = ?").run(id).changes > 0;
  }
}
