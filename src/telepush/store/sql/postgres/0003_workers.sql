-- Worker heartbeats: every worker process upserts its row every few seconds and deletes it
-- when it stops; a row not seen for long belongs to a dead process.
CREATE TABLE workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    in_flight integer NOT NULL
);
