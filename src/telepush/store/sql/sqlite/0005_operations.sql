-- The operator's console: endpoint health and the circuit breaker, per-minute figures,
-- manual replays and bulk retry tasks.

-- paused: NULL (running), 'manual' (an operator paused it: nothing is sent) or 'breaker'
-- (too many consecutive failures: one probe at a time, from probe_at on).
ALTER TABLE endpoints ADD COLUMN paused TEXT CHECK (paused IN ('manual', 'breaker'));
ALTER TABLE endpoints ADD COLUMN paused_at REAL;
ALTER TABLE endpoints ADD COLUMN probe_at REAL;
ALTER TABLE endpoints ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN last_success_at REAL;
ALTER TABLE endpoints ADD COLUMN last_failure_at REAL;

-- 1 once an operator has put the delivery back in the queue: a failed attempt then ends it
-- failed again instead of being rescheduled by its retry policy.
ALTER TABLE deliveries ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;

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
