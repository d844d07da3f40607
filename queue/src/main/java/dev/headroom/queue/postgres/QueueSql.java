package dev.headroom.queue.postgres;

import dev.headroom.queue.DeadLetterFilter;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

/** The statements of {@link PostgresJobStore}, in one place so the schema and its uses read together. */
final class QueueSql {

    private QueueSql() {}

    static final String SCHEMA_RESOURCE = "/dev/headroom/queue/postgres/schema.sql";

    /** Serialises concurrent {@code createSchema} calls; CREATE ... IF NOT EXISTS alone races. */
    static final String SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(7238492309183461001)";

    /**
     * The channel workers LISTEN on; the payload is the queue. PostgreSQL delivers a notification at
     * commit and folds identical ones of one transaction into one, so a transaction that enqueues
     * thousands of jobs on a queue notifies once.
     */
    static final String CHANNEL = "headroom_job";

    /**
     * A job whose run-at is still to come waits as {@code scheduled}, outside the index the claim
     * walks in priority order; the claim takes it from {@code headroom_job_scheduled} once due.
     * Bound twice: the run-at (or null for now).
     */
    private static final String STATE_OF_RUN_AT =
            "CASE WHEN CAST(? AS timestamptz) > now() THEN 'scheduled' ELSE 'available' END";

    static final String ENQUEUE =
            "INSERT INTO headroom_job (queue, type, payload, priority, run_at, max_attempts, state)"
                    + " VALUES (?, ?, ?, ?, COALESCE(CAST(? AS timestamptz), now()), ?, " + STATE_OF_RUN_AT + ")"
                    + " RETURNING id, pg_notify('" + CHANNEL + "', queue)";

    /**
     * The key row and the job in one statement: the unique key is the arbiter, so of N concurrent
     * enqueues of one key exactly one inserts (the others wait for its transaction, then do nothing).
     */
    static final String ENQUEUE_KEYED = "WITH k AS ("
            + " INSERT INTO headroom_job_key (idempotency_key, job_id, payload_sha256)"
            + " VALUES (?, nextval('headroom_job_id_seq'), ?)"
            + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING job_id)"
            + " INSERT INTO headroom_job"
            + " (id, queue, type, payload, priority, run_at, max_attempts, idempotency_key, state)"
            + " SELECT job_id, ?, ?, ?, ?, COALESCE(CAST(? AS timestamptz), now()), ?, ?, " + STATE_OF_RUN_AT
            + " FROM k"
            + " RETURNING id, pg_notify('" + CHANNEL + "', queue)";

    /** Ids for a batch, taken before the insert so results can be matched to jobs by position. */
    static final String NEXT_IDS = "SELECT nextval('headroom_job_id_seq') FROM generate_series(1, ?)";

    /** A batch of jobs without keys: one statement, columns as arrays (one NOTIFY per queue at commit). */
    static final String ENQUEUE_BATCH =
            "INSERT INTO headroom_job (id, queue, type, payload, priority, run_at, max_attempts, state)"
                    + " SELECT u.id, u.queue, u.type, u.payload, u.priority, COALESCE(CAST(u.run_at AS timestamptz), now()),"
                    + " u.max_attempts,"
                    + " CASE WHEN CAST(u.run_at AS timestamptz) > now() THEN 'scheduled' ELSE 'available' END"
                    + " FROM unnest(CAST(? AS bigint[]), CAST(? AS text[]), CAST(? AS text[]),"
                    + " CAST(? AS bytea[]), CAST(? AS smallint[]), CAST(? AS text[]), CAST(? AS int[]))"
                    + " AS u(id, queue, type, payload, priority, run_at, max_attempts)"
                    + " RETURNING pg_notify('" + CHANNEL + "', queue)";

    /** Ready counts scheduled jobs already due (the claim takes them) with the available ones. */
    static final String STATS = "SELECT count(*) FILTER (WHERE state <> 'running' AND run_at <= now()),"
            + " count(*) FILTER (WHERE state <> 'running' AND run_at > now()),"
            + " count(*) FILTER (WHERE state = 'running'),"
            + " COALESCE(EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()))"
            + " * 1000000, 0)"
            + " FROM headroom_job WHERE queue = ?";

    /** Keys of finished jobs older than the window, a bounded batch per statement (no long transaction). */
    static final String PURGE_KEYS = "WITH doomed AS (SELECT k.idempotency_key FROM headroom_job_key k"
            + " WHERE k.created_at < now() - CAST(? AS bigint) * interval '1 microsecond'"
            + " AND NOT EXISTS (SELECT 1 FROM headroom_job j WHERE j.id = k.job_id)"
            + " AND NOT EXISTS (SELECT 1 FROM headroom_dead_job d WHERE d.id = k.job_id)"
            + " ORDER BY k.created_at LIMIT ? FOR UPDATE SKIP LOCKED)"
            + " DELETE FROM headroom_job_key k USING doomed WHERE k.idempotency_key = doomed.idempotency_key";

    /** The NOTIFY the enqueue statements carry, for use inside a caller's transaction. */
    private static final String RETURNING_NOTIFY = ", pg_notify('" + CHANNEL + "', queue)";

    /** {@link #ENQUEUE} without its NOTIFY: for an enqueue that commits alone (see EnqueueNotifier). */
    static final String ENQUEUE_QUIET = ENQUEUE.replace(RETURNING_NOTIFY, "");

    /** {@link #ENQUEUE_KEYED} without its NOTIFY. */
    static final String ENQUEUE_KEYED_QUIET = ENQUEUE_KEYED.replace(RETURNING_NOTIFY, "");

    static final String FIND_KEY = "SELECT job_id, payload_sha256 FROM headroom_job_key WHERE idempotency_key = ?";

    /**
     * One statement claims a batch: available jobs, expired leases (the rescue) and scheduled jobs
     * that came due, skipping rows another claimer holds; the attempt is counted and a fresh token
     * issued per job. Each part is its own limited scan of its own partial index ({@code
     * headroom_job_due} in claim order, {@code headroom_job_leased}, {@code headroom_job_scheduled} in
     * run-at order), merged by priority, run-at and id; one query with an {@code OR} of the parts made
     * PostgreSQL scan and sort the whole queue (5.9 ms at 20,000 waiting jobs, against 0.6 ms). Jobs
     * whose run-at is to come are kept out of the claim-order index: behind 1,000,000 of them a claim
     * that found fewer due jobs than its limit walked them all (142 ms a claim, against a bounded
     * range scan of the run-at index). Of more scheduled jobs due at once than a claim takes, the
     * earliest run-at goes first (not the highest priority). The locked ids are MATERIALIZED
     * CTEs, not an {@code id IN (subquery)}: the planner may rescan such a subquery (nested loop), and
     * with SKIP LOCKED every rescan locks new rows, so a batch could exceed its LIMIT under
     * concurrency. Rows of the parts not picked stay locked only until the statement ends.
     * Expired leases on their last attempt cannot be claimed again: the same statement moves them to
     * the dead letters with a history line (a third, disjoint set of rows), and returns them too,
     * flagged {@code buried}, so that they are counted.
     */
    static final String CLAIM = "WITH lost AS MATERIALIZED ("
            + " SELECT id FROM headroom_job WHERE queue = ? AND state = 'running'"
            + " AND lease_expires_at <= now() AND attempt >= max_attempts"
            + " FOR UPDATE SKIP LOCKED),"
            + " gone AS (DELETE FROM headroom_job j USING lost WHERE j.id = lost.id RETURNING j.*),"
            + " gone_error AS (INSERT INTO headroom_job_error (job_id, attempt, message, worker)"
            + "  SELECT id, attempt, 'lease expired on the last attempt', COALESCE(claimed_by, '') FROM gone),"
            + " gone_dead AS (INSERT INTO headroom_dead_job"
            + " (id, queue, type, payload, priority, attempts, max_attempts, idempotency_key, enqueued_at)"
            + " SELECT id, queue, type, payload, priority, attempt, max_attempts, idempotency_key, enqueued_at"
            + " FROM gone),"
            + " ready AS MATERIALIZED ("
            + " SELECT id, priority, run_at, true AS avail FROM headroom_job WHERE queue = ? AND state = 'available'"
            + " AND run_at <= now()"
            + " ORDER BY priority, run_at, id LIMIT ? FOR UPDATE SKIP LOCKED),"
            + " expired AS MATERIALIZED ("
            + " SELECT id, priority, run_at, false AS avail FROM headroom_job WHERE queue = ? AND state = 'running'"
            + " AND lease_expires_at <= now() AND attempt < max_attempts"
            + " ORDER BY lease_expires_at LIMIT ? FOR UPDATE SKIP LOCKED),"
            + " came_due AS MATERIALIZED ("
            + " SELECT id, priority, run_at, false AS avail FROM headroom_job WHERE queue = ? AND state = 'scheduled'"
            + " AND run_at <= now() ORDER BY run_at, id LIMIT ? FOR UPDATE SKIP LOCKED),"
            + " due AS (SELECT id, avail FROM"
            + " (SELECT * FROM ready UNION ALL SELECT * FROM expired UNION ALL SELECT * FROM came_due) u"
            + " ORDER BY priority, run_at, id LIMIT ?),"
            + " claimed AS (UPDATE headroom_job j SET state = 'running', attempt = j.attempt + 1,"
            + " lease_token = gen_random_uuid(),"
            + " lease_expires_at = now() + CAST(? AS bigint) * interval '1 microsecond', claimed_by = ?"
            + " FROM due WHERE j.id = due.id"
            + " RETURNING j.id, j.type, j.queue, j.payload, j.priority, j.attempt, j.max_attempts,"
            + " j.idempotency_key, j.lease_token, j.lease_expires_at, j.run_at, due.avail)"
            + " SELECT *, false AS buried FROM claimed"
            + " UNION ALL SELECT id, type, queue, CAST(NULL AS bytea), priority, attempt, max_attempts,"
            + " idempotency_key, lease_token, lease_expires_at, run_at, false, true FROM gone";

    /** The claim order's key: bound as smallint, timestamptz, bigint. */
    private static final String KEY = "(CAST(? AS smallint), CAST(? AS timestamptz), CAST(? AS bigint))";

    /**
     * The claim between full claims: available jobs only, found in two limited scans in one
     * statement (so a claim stays atomic, on one {@code now()}): first after a claim key (priority,
     * run-at, id); then, only if that part came back short, from the start up to the key, for jobs
     * that became available below it (released, retried, enqueued with a higher priority or an
     * earlier run-at, committed late). Under a pinned xmin the index entries of jobs already claimed
     * stay (vacuum may remove none), and a scan from the start walked all of them at every claim;
     * one after the last key does not. The rescue of expired leases, the burial of last attempts
     * and the scheduled jobs that came due are left to full claims ({@link #CLAIM}): their scans
     * start at the beginning of their indexes too, and under a pin they walk the dead entry of
     * every job done since it (60,000 entries, 4-7 ms a claim, in the adversary's run).
     *
     * <p>It is its own, smaller statement rather than {@link #CLAIM} with those parts switched off:
     * PostgreSQL plans a statement at every execution here (the plan cache keeps custom plans,
     * because it knows the limit only then), and planning the full statement took 0.45 of its
     * 1.1 ms; this one runs in about 0.6 ms on 20,000 waiting jobs (psql, {@code EXPLAIN ANALYZE}).
     * The update finds its rows by {@code id = ANY(ARRAY(...))}, an init plan run once, so the
     * locked ids are never rescanned. Its rows have the shape of {@link #CLAIM}'s, all available
     * and none buried. Bound: the queue, the key and the limit of each part, the claim size, the
     * lease in microseconds and the worker.
     */
    static final String CLAIM_AFTER = "WITH ready AS MATERIALIZED ("
            + " SELECT id, priority, run_at FROM headroom_job WHERE queue = ? AND state = 'available'"
            + " AND run_at <= now() AND (priority, run_at, id) > " + KEY
            + " ORDER BY priority, run_at, id LIMIT ? FOR UPDATE SKIP LOCKED),"
            + " ready_low AS MATERIALIZED ("
            + " SELECT id, priority, run_at FROM headroom_job WHERE queue = ? AND state = 'available'"
            + " AND run_at <= now() AND (priority, run_at, id) <= " + KEY
            + " AND (SELECT count(*) FROM ready) < ?"
            + " ORDER BY priority, run_at, id LIMIT ? FOR UPDATE SKIP LOCKED),"
            + " due AS (SELECT id FROM (SELECT * FROM ready UNION ALL SELECT * FROM ready_low) u"
            + " ORDER BY priority, run_at, id LIMIT ?)"
            + " UPDATE headroom_job j SET state = 'running', attempt = j.attempt + 1,"
            + " lease_token = gen_random_uuid(),"
            + " lease_expires_at = now() + CAST(? AS bigint) * interval '1 microsecond', claimed_by = ?"
            + " WHERE j.id = ANY(ARRAY(SELECT id FROM due))"
            + " RETURNING j.id, j.type, j.queue, j.payload, j.priority, j.attempt, j.max_attempts,"
            + " j.idempotency_key, j.lease_token, j.lease_expires_at, j.run_at, true AS avail, false AS buried";

    static final String HEARTBEAT =
            "UPDATE headroom_job SET lease_expires_at = now() + CAST(? AS bigint) * interval '1 microsecond'"
                    + " WHERE id = ? AND lease_token = ? AND state = 'running' RETURNING lease_expires_at";

    static final String COMPLETE =
            "WITH done AS (DELETE FROM headroom_job WHERE id = ? AND lease_token = ? RETURNING id),"
                    + " e AS (DELETE FROM headroom_job_error WHERE job_id IN (SELECT id FROM done))"
                    + " SELECT count(*) FROM done";

    /** A batch of completions: ids and tokens as two arrays, one row per pair. */
    static final String COMPLETE_ALL = "WITH done AS (DELETE FROM headroom_job j"
            + " USING unnest(CAST(? AS bigint[]), CAST(? AS uuid[])) AS t(id, token)"
            + " WHERE j.id = t.id AND j.lease_token = t.token RETURNING j.id),"
            + " e AS (DELETE FROM headroom_job_error WHERE job_id IN (SELECT id FROM done))"
            + " SELECT id FROM done";

    /** An unstarted job back to available, its attempt uncounted; its run-at (already due) kept. */
    static final String RELEASE = "UPDATE headroom_job SET state = 'available', attempt = attempt - 1,"
            + " lease_token = NULL, lease_expires_at = NULL, claimed_by = NULL"
            + " WHERE id = ? AND lease_token = ? AND state = 'running'"
            + " RETURNING pg_notify('" + CHANNEL + "', queue)";

    static final String LOCK_LEASED =
            "SELECT attempt, max_attempts FROM headroom_job WHERE id = ? AND lease_token = ? FOR UPDATE";

    static final String RECORD_ERROR =
            "INSERT INTO headroom_job_error (job_id, attempt, message, worker) VALUES (?, ?, ?, ?)";

    /** Bound twice: the delay in microseconds. A retry with a delay waits as {@code scheduled}. */
    static final String RETRY = "UPDATE headroom_job"
            + " SET state = CASE WHEN CAST(? AS bigint) > 0 THEN 'scheduled' ELSE 'available' END,"
            + " run_at = now() + CAST(? AS bigint) * interval '1 microsecond',"
            + " lease_token = NULL, lease_expires_at = NULL WHERE id = ?";

    static final String BURY = "WITH gone AS (DELETE FROM headroom_job WHERE id = ? RETURNING *)"
            + " INSERT INTO headroom_dead_job"
            + " (id, queue, type, payload, priority, attempts, max_attempts, idempotency_key, enqueued_at)"
            + " SELECT id, queue, type, payload, priority, attempt, max_attempts, idempotency_key, enqueued_at"
            + " FROM gone";

    static final String ERRORS_OF = "SELECT job_id, attempt, message, worker, failed_at FROM headroom_job_error"
            + " WHERE job_id = ANY(?) ORDER BY failed_at, attempt";

    /** A WHERE clause over {@code headroom_dead_job d} and its parameters. */
    record Where(String sql, List<Object> params) {}

    static Where where(DeadLetterFilter f) {
        List<String> clauses = new ArrayList<>();
        List<Object> params = new ArrayList<>();
        String type = f.type();
        if (type != null) {
            clauses.add("d.type = ?");
            params.add(type);
        }
        String queue = f.queue();
        if (queue != null) {
            clauses.add("d.queue = ?");
            params.add(queue);
        }
        Instant from = f.deadFrom();
        if (from != null) {
            clauses.add("d.dead_at >= ?");
            params.add(timestamp(from));
        }
        Instant before = f.deadBefore();
        if (before != null) {
            clauses.add("d.dead_at < ?");
            params.add(timestamp(before));
        }
        String text = f.errorContains();
        if (text != null) {
            clauses.add("EXISTS (SELECT 1 FROM headroom_job_error e WHERE e.job_id = d.id"
                    + " AND strpos(e.message, ?) > 0)");
            params.add(text);
        }
        return new Where(clauses.isEmpty() ? "TRUE" : String.join(" AND ", clauses), params);
    }

    static String list(Where w) {
        return "SELECT d.id, d.type, d.queue, d.payload, d.priority, d.attempts, d.max_attempts,"
                + " d.idempotency_key, d.enqueued_at, d.dead_at FROM headroom_dead_job d WHERE " + w.sql()
                + " ORDER BY d.dead_at, d.id LIMIT ?";
    }

    static String replay(Where w) {
        return "WITH moved AS (DELETE FROM headroom_dead_job d WHERE " + w.sql() + " RETURNING d.*)"
                + " INSERT INTO headroom_job"
                + " (id, queue, type, payload, priority, state, run_at, attempt, max_attempts, idempotency_key,"
                + " enqueued_at)"
                + " SELECT id, queue, type, payload, priority, 'available', now(), 0, max_attempts,"
                + " idempotency_key, enqueued_at FROM moved";
    }

    static String purge(Where w) {
        return "WITH p AS (DELETE FROM headroom_dead_job d WHERE " + w.sql() + " RETURNING d.id),"
                + " e AS (DELETE FROM headroom_job_error WHERE job_id IN (SELECT id FROM p))"
                + " SELECT count(*) FROM p";
    }

    static OffsetDateTime timestamp(Instant instant) {
        return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
    }

    /** Longest interval sent: 100 years, far inside PostgreSQL's interval and timestamp range. */
    private static final long MAX_MICROS = 100L * 366 * 24 * 3600 * 1_000_000L;

    /** Microseconds, rounded up: a positive duration under 1 µs is 1 µs, never 0. */
    static long micros(java.time.Duration d) {
        if (d.getSeconds() >= MAX_MICROS / 1_000_000L) {
            return MAX_MICROS;
        }
        long micros = d.getSeconds() * 1_000_000L + d.getNano() / 1_000;
        return d.getNano() % 1_000 == 0 ? micros : micros + 1;
    }
}
