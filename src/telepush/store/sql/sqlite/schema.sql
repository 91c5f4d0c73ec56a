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
    updated_at REAL NOT NULL
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
