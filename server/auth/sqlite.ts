// One way to open the auth and audit stores: a file in the data directory in WAL mode (readers never wait
// for the writer; a crash keeps every committed transaction), or ":memory:" for tests.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import Database from "better-sqlite3";

export function openDatabase(dir: string, file: string): Database.Database {
  let db: Database.Database;
  if (dir === ":memory:") {
    db = new Database(":memory:");
  } else {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    db = new Database(join(dir, file));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
  }
  // The web server and `lvsdash user` may write at once: wait for the other instead of failing.
  db.pragma("busy_timeout = 5000");
  return db;
}
