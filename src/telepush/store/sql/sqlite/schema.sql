-- The whole SQLite schema as the migrations leave it. Keep it in step with the numbered
-- files: a test migrates a fresh database and compares it with this one.

CREATE TABLE schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at REAL NOT NULL
);

-- A customer: its public configuration (camelCase JSON, no secrets) and its secret fields
-- (clientSecret or password) as one encrypted token.
CREATE TABLE customers (
    customer_id TEXT PRIMARY KEY,
    config_json TEXT NOT NULL,
    secret BLOB NOT NULL,
    revision INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- One row per configured (customer, service): what claim walks, without scanning deliveries.
CREATE TABLE endpoints (
    customer_id TEXT NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    -- NULL (running), 'manual' (paused by an operator) or 'breaker' (circuit breaker open)
    paused TEXT CHECK (paused IN ('manual', 'breaker')),
    paused_at REAL,
    probe_at REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at REAL,
    last_failure_at REAL,
    PRIMARY KEY (customer_id, service)
);

-- The queue. due_at: next attempt time when pending, lease expiry when sending, NULL when
-- final.
CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    service TEXT NOT NULL,
    key TEXT,
    idempotency_key TEXT,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'superseded')),
    due_at REAL,
    lease_owner TEXT,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    -- put back by an operator: a failed attempt ends it failed, not rescheduled
    manual INTEGER NOT NULL DEFAULT 0
);

-- Claim: due rows of one endpoint, pending or sending, oldest due first.
CREATE INDEX deliveries_queue ON deliveries (customer_id, service, status, due_at);
-- Deletion wins: the trips and deletions of one natural key.
CREATE INDEX deliveries_by_key ON deliveries (customer_id, service, key);
CREATE UNIQUE INDEX deliveries_idempotency ON deliveries (customer_id, service, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Listing newest first, by customer or by status.
CREATE INDEX deliveries_by_customer ON deliveries (customer_id, seq);
CREATE INDEX deliveries_by_status ON deliveries (status, seq);

-- A delivery's document, written once at enqueue; no row once erased (superseded,
-- customer deleted, retention). Kept apart so that claims and outcomes rewrite only
-- the small delivery row.
CREATE TABLE payloads (
    seq INTEGER PRIMARY KEY REFERENCES deliveries (seq) ON DELETE CASCADE,
    body BLOB NOT NULL
);

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    delivery_seq INTEGER NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    at REAL NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL,
    response TEXT,
    detail TEXT
);

CREATE INDEX attempts_by_delivery ON attempts (delivery_seq, number);

-- OAuth2 bearer tokens shared by every process: one per customer, for the customer's
-- revision it was fetched with, encrypted like the customer's secrets. A token row goes
-- with its customer. expires_at is REAL seconds since the epoch (UTC).
CREATE TABLE oauth_tokens (
    customer_id TEXT PRIMARY KEY REFERENCES customers (customer_id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    token_ciphertext BLOB NOT NULL,
    expires_at REAL NOT NULL,
    fetched_by TEXT NOT NULL
);

CREATE TABLE workers (
    worker_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    in_flight INTEGER NOT NULL
);

-- What each endpoint did, minute by minute (minute = epoch seconds // 60): attempts made,
-- attempts that failed, deliveries that ended delivered or failed, retries scheduled.
CREATE TABLE endpoint_minutes (
    customer_id TEXT NOT NULL,
    service TEXT NOT NULL,
    minute INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    retried INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, service, minute)
);

-- Attempt durations of each endpoint and minute, counted in the buckets of
-- telepush.domain.health.LATENCY_BOUNDS_MS (bucket = index of the first bound >= duration).
CREATE TABLE endpoint_latency (
    customer_id TEXT NOT NULL,
    service TEXT NOT NULL,
    minute INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (customer_id, service, minute, bucket)
);

-- Bulk replays. A task re-queues the failed deliveries of one endpoint with seq <= max_seq
-- (and, in the time-window form, that failed within [failed_from, failed_to)), in chunks,
-- after_seq being where the next chunk starts; at most one runs per endpoint.
CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    service TEXT NOT NULL,
    failed_from REAL,
    failed_to REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    nb_items INTEGER NOT NULL,
    nb_done INTEGER NOT NULL DEFAULT 0,
    nb_skipped INTEGER NOT NULL DEFAULT 0,
    max_seq INTEGER NOT NULL,
    after_seq INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);

CREATE UNIQUE INDEX tasks_one_running ON tasks (customer_id, service) WHERE status = 'running';
