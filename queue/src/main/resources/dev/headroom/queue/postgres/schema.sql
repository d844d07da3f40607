-- headroom-queue schema, version 2. Idempotent: safe to run again, and it upgrades a version-1
-- schema in place (see below). Unqualified names: the tables land in the first schema of the
-- search_path of the connection.
--
-- headroom_job is the hot table: only jobs waiting or running. A completed job is deleted, a dead
-- one moves to headroom_dead_job, so the table that every claim scans stays small.
--
-- Version history: 1 — first release; 2 — state 'scheduled' for jobs whose run-at is still to come
-- (future enqueues and retries after a delay), with their own index, so that a backlog of them does
-- not lengthen every claim.

CREATE SEQUENCE IF NOT EXISTS headroom_job_id_seq;

CREATE TABLE IF NOT EXISTS headroom_job (
    id               bigint      PRIMARY KEY DEFAULT nextval('headroom_job_id_seq'),
    queue            text        NOT NULL,
    type             text        NOT NULL,
    payload          bytea       NOT NULL,
    priority         smallint    NOT NULL DEFAULT 0,
    state            text        NOT NULL DEFAULT 'available'
                                 CONSTRAINT headroom_job_state_check
                                 CHECK (state IN ('available', 'scheduled', 'running')),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL CHECK (max_attempts >= 1),
    idempotency_key  text,
    lease_token      uuid,
    lease_expires_at timestamptz,
    claimed_by       text,
    enqueued_at      timestamptz NOT NULL DEFAULT now()
);

-- Version 1 to 2: allow 'scheduled', and move waiting jobs whose run-at is to come there. Runs
-- once (the constraint then names 'scheduled'); takes a short exclusive lock on headroom_job.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = 'headroom_job'::regclass AND conname = 'headroom_job_state_check'
                     AND pg_get_constraintdef(oid) LIKE '%scheduled%') THEN
        ALTER TABLE headroom_job DROP CONSTRAINT IF EXISTS headroom_job_state_check;
        ALTER TABLE headroom_job ADD CONSTRAINT headroom_job_state_check
            CHECK (state IN ('available', 'scheduled', 'running'));
        UPDATE headroom_job SET state = 'scheduled' WHERE state = 'available' AND run_at > now();
    END IF;
END
$$;

-- The three parts of the claim query: available jobs in claim order, expired leases, and scheduled
-- jobs in run-at order (a range scan that stops at now()).
CREATE INDEX IF NOT EXISTS headroom_job_due
    ON headroom_job (queue, priority, run_at, id) WHERE state = 'available';
CREATE INDEX IF NOT EXISTS headroom_job_leased
    ON headroom_job (queue, lease_expires_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS headroom_job_scheduled
    ON headroom_job (queue, run_at, id) WHERE state = 'scheduled';

-- Idempotency keys outlive their jobs (completed jobs are deleted): the unique primary key is what
-- makes a duplicate enqueue find the existing job, with INSERT ... ON CONFLICT.
CREATE TABLE IF NOT EXISTS headroom_job_key (
    idempotency_key text        PRIMARY KEY,
    job_id          bigint      NOT NULL,
    payload_sha256  bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Key retention (purgeKeys) walks the oldest keys first.
CREATE INDEX IF NOT EXISTS headroom_job_key_created ON headroom_job_key (created_at);

-- One row per failed attempt, for jobs that are retrying or dead.
CREATE TABLE IF NOT EXISTS headroom_job_error (
    job_id    bigint      NOT NULL,
    attempt   integer     NOT NULL,
    message   text        NOT NULL,
    worker    text        NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS headroom_job_error_job ON headroom_job_error (job_id);

CREATE TABLE IF NOT EXISTS headroom_dead_job (
    id              bigint      PRIMARY KEY,
    queue           text        NOT NULL,
    type            text        NOT NULL,
    payload         bytea       NOT NULL,
    priority        smallint    NOT NULL,
    attempts        integer     NOT NULL,
    max_attempts    integer     NOT NULL,
    idempotency_key text,
    enqueued_at     timestamptz NOT NULL,
    dead_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS headroom_dead_job_dead_at ON headroom_dead_job (dead_at, id);
