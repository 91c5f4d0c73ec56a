-- The operator's console: endpoint health and the circuit breaker, per-minute figures,
-- manual replays and bulk retry tasks.

-- paused: NULL (running), 'manual' (an operator paused it: nothing is sent) or 'breaker'
-- (too many consecutive failures: one probe at a time, from probe_at on).
ALTER TABLE endpoints ADD COLUMN paused text CHECK (paused IN ('manual', 'breaker'));
ALTER TABLE endpoints ADD COLUMN paused_at timestamptz;
ALTER TABLE endpoints ADD COLUMN probe_at timestamptz;
ALTER TABLE endpoints ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN last_success_at timestamptz;
ALTER TABLE endpoints ADD COLUMN last_failure_at timestamptz;

-- true once an operator has put the delivery back in the queue: a failed attempt then ends it
-- failed again instead of being rescheduled by its retry policy.
ALTER TABLE deliveries ADD COLUMN manual boolean NOT NULL DEFAULT false;

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
