-- Worker heartbeats: every worker process upserts its row every few seconds and deletes it
-- when it stops; a row not seen for long belongs to a dead process. Times are REAL epoch s.
CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    in_flight INTEGER NOT NULL
);
