-- The whole PostgreSQL schema as the migrations leave it. Keep it in step with the numbered
-- files: a test migrates a fresh database and compares it with this one.

CREATE TABLE schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL
);

-- A customer: its public configuration (camelCase JSON, no secrets) and its secret fields
-- (clientSecret or password) as one encrypted token.
CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    config_json jsonb NOT NULL,
    secret bytea NOT NULL,
    revision integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One row per configured (customer, service): what claim walks, without scanning deliveries.
CREATE TABLE endpoints (
    customer_id text NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    service text NOT NULL,
    enabled boolean NOT NULL,
    -- NULL (running), 'manual' (paused by an operator) or 'breaker' (circuit breaker open)
    paused text CHECK (paused IN ('manual', 'breaker')),
    paused_at timestamptz,
    probe_at timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    PRIMARY KEY (customer_id, service)
);

-- The queue. due_at: next attempt time when pending, lease expiry when sending, NULL when
-- final.
CREATE TABLE deliveries (
    seq bigserial PRIMARY KEY,
    delivery_id text NOT NULL UNIQUE,
    customer_id text NOT NULL,
    service text NOT NULL,
    key text,
    idempotency_key text,
    status text NOT NULL
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'superseded')),
    due_at timestamptz,
    lease_owner text,
    attempt_count integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    -- put back by an operator: a failed attempt ends it failed, not rescheduled
    manual boolean NOT NULL DEFAULT false
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
    seq bigint PRIMARY KEY REFERENCES deliveries (seq) ON DELETE CASCADE,
    body bytea NOT NULL
);

CREATE TABLE attempts (
    id bigserial PRIMARY KEY,
    delivery_seq bigint NOT NULL REFERENCES deliveries (seq) ON DELETE CASCADE,
    number integer NOT NULL,
    at timestamptz NOT NULL,
    status_code integer,
    error text,
    duration_ms integer NOT NULL,
    response text,
    detail text
);

CREATE INDEX attempts_by_delivery ON attempts (delivery_seq, number);

-- OAuth2 bearer tokens shared by every process: one per customer, for the customer's
-- revision it was fetched with, encrypted like the customer's secrets. A token row goes
-- with its customer.
CREATE TABLE oauth_tokens (
    customer_id text PRIMARY KEY REFERENCES customers (customer_id) ON DELETE CASCADE,
    revision integer NOT NULL,
    token_ciphertext bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    fetched_by text NOT NULL
);

CREATE TABLE workers (
    worker_id text PRIMARY KEY,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    in_flight integer NOT NULL
);

-- What each endpoint did, minute by minute (minute = floor(epoch seconds / 60)): attempts made,
-- attempts that failed, deliveries that ended delivered or failed, retries scheduled.
CREATE TABLE endpoint_minutes (
    customer_id text NOT NULL,
    service text NOT NULL,
    minute bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    failures integer NOT NULL DEFAULT 0,
    delivered integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    retried integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, service, minute)
);

-- Attempt durations of each endpoint and minute, counted in the buckets of
-- telepush.domain.health.LATENCY_BOUNDS_MS (bucket = index of the first bound >= duration).
CREATE TABLE endpoint_latency (
    customer_id text NOT NULL,
    service text NOT NULL,
    minute bigint NOT NULL,
    bucket integer NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (customer_id, service, minute, bucket)
);

-- Bulk replays. A task re-queues the failed deliveries of one endpoint with seq <= max_seq
-- (and, in the time-window form, that failed within [failed_from, failed_to)), in chunks,
-- after_seq being where the next chunk starts; at most one runs per endpoint.
CREATE TABLE tasks (
    task_id text PRIMARY KEY,
    kind text NOT NULL,
    customer_id text NOT NULL,
    service text NOT NULL,
    failed_from timestamptz,
    failed_to timestamptz,
    status text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    nb_items integer NOT NULL,
    nb_done integer NOT NULL DEFAULT 0,
    nb_skipped integer NOT NULL DEFAULT 0,
    max_seq bigint NOT NULL,
    after_seq bigint NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE UNIQUE INDEX tasks_one_running ON tasks (customer_id, service) WHERE status = 'running';
