package dev.headroom.queue.postgres;

import dev.headroom.queue.ClaimBatch;
import dev.headroom.queue.ClaimedJob;
import dev.headroom.queue.DeadLetter;
import dev.headroom.queue.DeadLetterFilter;
import dev.headroom.queue.EnqueueResult;
import dev.headroom.queue.FailOutcome;
import dev.headroom.queue.JobError;
import dev.headroom.queue.JobId;
import dev.headroom.queue.JobStoreException;
import dev.headroom.queue.JobWakeups;
import dev.headroom.queue.LeaseToken;
import dev.headroom.queue.NewJob;
import dev.headroom.queue.QueueStats;
import dev.headroom.queue.TransactionalJobStore;
import dev.headroom.queue.internal.PayloadDigest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * The PostgreSQL {@link TransactionalJobStore}, on plain JDBC (tested with pgjdbc) against
 * PostgreSQL 13 or later ({@code gen_random_uuid()}).
 *
 * <p>The schema is {@code dev/headroom/queue/postgres/schema.sql} on the classpath (run it with your
 * migration tool, or call {@link #createSchema()}): a small hot table {@code headroom_job} of
 * waiting and running jobs, {@code headroom_job_key} for idempotency keys (which outlive their
 * jobs), {@code headroom_job_error} for error histories and {@code headroom_dead_job}. Tables are
 * unqualified: they live in the first schema of the connections' {@code search_path}.
 *
 * <p>How the guarantees of {@link dev.headroom.queue.JobStore} are kept:
 *
 * <ul>
 *   <li>idempotency: {@code INSERT ... ON CONFLICT DO NOTHING} on the key's primary key, in the same
 *       statement as the job's insert; a duplicate then reads the existing key row;
 *   <li>claims: one statement, {@code WITH due AS MATERIALIZED (SELECT id ... ORDER BY priority,
 *       run_at, id LIMIT n FOR UPDATE SKIP LOCKED) UPDATE ... FROM due ... RETURNING ...}, that takes
 *       due jobs and expired leases, counts the attempt and sets a fresh
 *       {@code gen_random_uuid()} token and {@code now() + lease} per job. Before it, one statement
 *       dead-letters expired leases that were on their last attempt;
 *   <li>fencing: every change is a statement whose {@code WHERE} names the id and the token;
 *   <li>time is the database's {@code now()}, never this JVM's clock.
 * </ul>
 *
 * <p>Every operation runs on a connection of its own from the DataSource, in auto-commit except
 * {@code fail} (one short transaction), and holds no transaction open between calls. The
 * DataSource must point at the primary: never route queue traffic through a replica router.
 * Thread-safe.
 */
public final class PostgresJobStore implements TransactionalJobStore {

    private final DataSource dataSource;
    private final EnqueueNotifier notifier;
    private final Map<String, ClaimCursor> cursors = new java.util.concurrent.ConcurrentHashMap<>();

    private PostgresJobStore(DataSource dataSource) {
        this.dataSource = dataSource;
        this.notifier = new EnqueueNotifier(dataSource);
    }

    /**
     * Creates a store on a DataSource. Does not touch the database: see {@link #createSchema()}.
     *
     * @param dataSource connections to the primary; auto-commit is switched on where needed
     * @return the store
     */
    public static PostgresJobStore create(DataSource dataSource) {
        return new PostgresJobStore(Objects.requireNonNull(dataSource, "dataSource"));
    }

    /**
     * Returns the schema script, the same one {@link #createSchema()} runs, for migration tools.
     *
     * @return the SQL text (idempotent {@code CREATE ... IF NOT EXISTS} statements)
     */
    public static String schemaSql() {
        try (InputStream in = PostgresJobStore.class.getResourceAsStream(QueueSql.SCHEMA_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(QueueSql.SCHEMA_RESOURCE + " is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + QueueSql.SCHEMA_RESOURCE, e);
        }
    }

    /**
     * Creates the tables and indexes if they are missing, in one transaction under an advisory lock
     * so that instances starting together do not race. Safe to call on every start.
     *
     * @throws JobStoreException if the database refuses
     */
    public void createSchema() {
        String script = schemaSql();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute(QueueSql.SCHEMA_LOCK);
                s.execute(script);
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("createSchema", e);
        }
    }

    @Override
    public EnqueueResult enqueue(NewJob job) {
        Objects.requireNonNull(job, "job");
        try (Connection c = autoCommit()) {
            EnqueueResult result = enqueueOn(c, job, false);
            if (result.created()) {
                notifier.signal(job.queue()); // committed: a coalesced NOTIFY follows
            }
            return result;
        } catch (SQLException e) {
            throw failure("enqueue", e);
        }
    }

    @Override
    public EnqueueResult enqueue(Connection connection, NewJob job) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(job, "job");
        try {
            return enqueueOn(connection, job, true);
        } catch (SQLException e) {
            throw failure("enqueue", e);
        }
    }

    /** All or nothing, in one transaction: the jobs without keys in two statements, keyed ones one by one. */
    @Override
    public List<EnqueueResult> enqueueAll(List<NewJob> jobs) {
        Objects.requireNonNull(jobs, "jobs");
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                List<EnqueueResult> results = enqueueAllOn(c, jobs);
                c.commit();
                return results;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("enqueue", e);
        }
    }

    @Override
    public List<EnqueueResult> enqueueAll(Connection connection, List<NewJob> jobs) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(jobs, "jobs");
        try {
            return enqueueAllOn(connection, jobs);
        } catch (SQLException e) {
            throw failure("enqueue", e);
        }
    }

    private static List<EnqueueResult> enqueueAllOn(Connection c, List<NewJob> jobs) throws SQLException {
        EnqueueResult[] results = new EnqueueResult[jobs.size()];
        List<Integer> plain = new ArrayList<>();
        List<Integer> keyed = new ArrayList<>();
        for (int i = 0; i < jobs.size(); i++) {
            NewJob job = Objects.requireNonNull(jobs.get(i), "jobs[" + i + "]");
            (job.idempotencyKey() == null ? plain : keyed).add(i);
        }
        // Keys in one global order: two batches taking the same keys in different orders would
        // otherwise each wait for a key row the other holds (a deadlock, one batch aborted).
        keyed.sort(Comparator.comparing(i -> Objects.requireNonNull(jobs.get(i).idempotencyKey())));
        for (int i : keyed) {
            results[i] = enqueueOn(c, jobs.get(i), true);
        }
        if (!plain.isEmpty()) {
            int n = plain.size();
            Long[] ids = new Long[n];
            try (PreparedStatement ps = c.prepareStatement(QueueSql.NEXT_IDS)) {
                ps.setInt(1, n);
                try (ResultSet rs = ps.executeQuery()) {
                    for (int k = 0; k < n && rs.next(); k++) {
                        ids[k] = rs.getLong(1);
                    }
                }
            }
            String[] queues = new String[n];
            String[] types = new String[n];
            byte[][] payloads = new byte[n][];
            Integer[] priorities = new Integer[n];
            @Nullable String[] runAts = new @Nullable String[n];
            Integer[] attempts = new Integer[n];
            for (int k = 0; k < n; k++) {
                NewJob job = jobs.get(plain.get(k));
                queues[k] = job.queue();
                types[k] = job.type();
                payloads[k] = job.payload();
                priorities[k] = job.priority();
                Instant runAt = job.runAt();
                runAts[k] = runAt == null ? null : runAt.toString();
                attempts[k] = job.maxAttempts();
                results[plain.get(k)] = new EnqueueResult(new JobId(ids[k]), EnqueueResult.Outcome.CREATED);
            }
            try (PreparedStatement ps = c.prepareStatement(QueueSql.ENQUEUE_BATCH)) {
                ps.setArray(1, c.createArrayOf("bigint", ids));
                ps.setArray(2, c.createArrayOf("text", queues));
                ps.setArray(3, c.createArrayOf("text", types));
                ps.setArray(4, c.createArrayOf("bytea", payloads));
                ps.setArray(5, c.createArrayOf("int4", priorities));
                ps.setArray(6, c.createArrayOf("text", runAts));
                ps.setArray(7, c.createArrayOf("int4", attempts));
                ps.execute();
            }
        }
        return Arrays.asList(results);
    }

    /** One job; {@code notify}: the statement carries its NOTIFY (delivered when the caller commits). */
    private static EnqueueResult enqueueOn(Connection c, NewJob job, boolean notify) throws SQLException {
        String key = job.idempotencyKey();
        if (key == null) {
            try (PreparedStatement ps = c.prepareStatement(notify ? QueueSql.ENQUEUE : QueueSql.ENQUEUE_QUIET)) {
                ps.setString(1, job.queue());
                ps.setString(2, job.type());
                ps.setBytes(3, job.payload());
                ps.setInt(4, job.priority());
                setRunAt(ps, 5, job.runAt());
                ps.setInt(6, job.maxAttempts());
                setRunAt(ps, 7, job.runAt());
                return new EnqueueResult(new JobId(singleLong(ps)), EnqueueResult.Outcome.CREATED);
            }
        }
        byte[] digest = PayloadDigest.of(job.type(), job.payload());
        // Loops only if the key row that beat us vanishes (rolled back, or removed by retention)
        // between our ON CONFLICT and our read of it.
        for (int round = 0; ; round++) {
            try (PreparedStatement ps =
                    c.prepareStatement(notify ? QueueSql.ENQUEUE_KEYED : QueueSql.ENQUEUE_KEYED_QUIET)) {
                ps.setString(1, key);
                ps.setBytes(2, digest);
                ps.setString(3, job.queue());
                ps.setString(4, job.type());
                ps.setBytes(5, job.payload());
                ps.setInt(6, job.priority());
                setRunAt(ps, 7, job.runAt());
                ps.setInt(8, job.maxAttempts());
                ps.setString(9, key);
                setRunAt(ps, 10, job.runAt());
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        return new EnqueueResult(new JobId(rs.getLong(1)), EnqueueResult.Outcome.CREATED);
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement(QueueSql.FIND_KEY)) {
                ps.setString(1, key);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        boolean same = Arrays.equals(rs.getBytes(2), digest);
                        return new EnqueueResult(
                                new JobId(rs.getLong(1)),
                                same
                                        ? EnqueueResult.Outcome.DUPLICATE
                                        : EnqueueResult.Outcome.DUPLICATE_DIFFERENT_PAYLOAD);
                    }
                }
            }
            if (round == 2) {
                throw new SQLException("idempotency key '" + key + "' conflicted but could not be read, 3 times");
            }
        }
    }

    @Override
    public List<ClaimedJob> claim(String queue, int max, Duration lease, String worker) {
        return claimBatch(queue, max, lease, worker).jobs();
    }

    @Override
    public ClaimBatch claimBatch(String queue, int max, Duration lease, String worker) {
        Objects.requireNonNull(queue, "queue");
        Objects.requireNonNull(worker, "worker");
        checkPositive("lease", lease);
        if (max < 1) {
            throw new IllegalArgumentException("max must be >= 1, got " + max);
        }
        ClaimCursor cursor = cursors.computeIfAbsent(queue, q -> new ClaimCursor());
        long now = System.nanoTime();
        ClaimKey after = cursor.after(now);
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(after == null ? QueueSql.CLAIM : QueueSql.CLAIM_AFTER)) {
            bindClaim(ps, queue, after, max, lease, worker);
            List<ClaimedJob> claimed = new ArrayList<>();
            int buried = 0;
            int available = 0;
            boolean below = false;
            ClaimKey highest = null;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    if (rs.getBoolean(13)) {
                        buried++;
                        continue;
                    }
                    ClaimedJob job = new ClaimedJob(
                            new JobId(rs.getLong(1)),
                            rs.getString(2),
                            rs.getString(3),
                            rs.getBytes(4),
                            rs.getInt(5),
                            rs.getInt(6),
                            rs.getInt(7),
                            rs.getString(8),
                            new LeaseToken(rs.getObject(9, UUID.class)),
                            instant(rs, 10),
                            instant(rs, 11));
                    claimed.add(job);
                    if (rs.getBoolean(12)) {
                        available++;
                        ClaimKey key = new ClaimKey(
                                job.priority(),
                                rs.getObject(11, OffsetDateTime.class),
                                job.id().value());
                        below |= after != null && key.compareTo(after) <= 0;
                        if (highest == null || key.compareTo(highest) > 0) {
                            highest = key;
                        }
                    }
                }
            }
            cursor.claimed(now, after == null, below, claimed.size() == max && available > 0 ? highest : null);
            claimed.sort(Comparator.comparingInt(ClaimedJob::priority)
                    .thenComparing(ClaimedJob::dueAt)
                    .thenComparingLong(j -> j.id().value()));
            return new ClaimBatch(claimed, buried);
        } catch (SQLException e) {
            throw failure("claim", e);
        }
    }

    /** Binds {@link QueueSql#CLAIM} (no key: a full claim) or {@link QueueSql#CLAIM_AFTER}. */
    static void bindClaim(
            PreparedStatement ps, String queue, @Nullable ClaimKey after, int max, Duration lease, String worker)
            throws SQLException {
        int i = 1;
        if (after == null) {
            ps.setString(i++, queue); // lost
            ps.setString(i++, queue); // ready
            ps.setInt(i++, max);
            ps.setString(i++, queue); // expired
            ps.setInt(i++, max);
            ps.setString(i++, queue); // came_due
            ps.setInt(i++, max);
        } else {
            ps.setString(i++, queue); // ready, after the key
            i = bindKey(ps, i, after);
            ps.setInt(i++, max);
            ps.setString(i++, queue); // ready_low, up to the key, if ready came back short
            i = bindKey(ps, i, after);
            ps.setInt(i++, max);
            ps.setInt(i++, max);
        }
        ps.setInt(i++, max); // due
        ps.setLong(i++, QueueSql.micros(lease));
        ps.setString(i, worker);
    }

    private static int bindKey(PreparedStatement ps, int i, ClaimKey key) throws SQLException {
        ps.setInt(i, key.priority());
        ps.setObject(i + 1, key.runAt());
        ps.setLong(i + 2, key.id());
        return i + 3;
    }

    /** Makes the next claim of {@code queue} a full scan, as the period would; for tests. */
    void scanFromTheStartNext(String queue) {
        cursors.computeIfAbsent(queue, q -> new ClaimCursor()).lastFullScan =
                System.nanoTime() - ClaimCursor.FULL_SCAN_EVERY_NANOS;
    }

    /** Where this store's claims of {@code queue} will continue from, for tests. */
    @Nullable
    ClaimKey claimedUpTo(String queue) {
        ClaimCursor cursor = cursors.get(queue);
        return cursor == null ? null : cursor.key.get();
    }

    /** A position in claim order: (priority, run-at, id). */
    record ClaimKey(int priority, OffsetDateTime runAt, long id) implements Comparable<ClaimKey> {
        @Override
        public int compareTo(ClaimKey o) {
            int c = Integer.compare(priority, o.priority);
            if (c == 0) {
                c = runAt.toInstant().compareTo(o.runAt.toInstant());
            }
            return c != 0 ? c : Long.compare(id, o.id);
        }
    }

    /**
     * Where this store's claims of one queue left off. While claims come back full, the next one
     * scans the available jobs after the highest key claimed so far, not from the start: under a
     * pinned xmin (a long transaction, a replica's {@code hot_standby_feedback}) vacuum removes no
     * index entry of a claimed job, and a scan from the start walked them all at every claim (the
     * claim rate fell with every job done). Jobs that become available below that key — released,
     * enqueued with an earlier run-at or a higher priority, committed late — are found by a full
     * scan: at least every {@value #FULL_SCAN_EVERY_MILLIS} ms, and at once when a claim after the
     * key comes back short. Thread-safe; a hint only, never a correctness condition.
     */
    static final class ClaimCursor {
        static final long FULL_SCAN_EVERY_MILLIS = 250;
        private static final long FULL_SCAN_EVERY_NANOS = FULL_SCAN_EVERY_MILLIS * 1_000_000L;

        private final java.util.concurrent.atomic.AtomicReference<@Nullable ClaimKey> key =
                new java.util.concurrent.atomic.AtomicReference<>();
        private volatile long lastFullScan;

        /** The key to claim after, or null for a full scan. */
        @Nullable
        ClaimKey after(long now) {
            ClaimKey k = key.get();
            if (k == null || now - lastFullScan >= FULL_SCAN_EVERY_NANOS) {
                return null;
            }
            return k;
        }

        /**
         * After a claim: a full claim continues after the highest key it claimed — set, not raised,
         * so a full scan that found jobs below the old key goes on from among them rather than
         * jumping back past the rest; a claim that found jobs below its key, or came back short,
         * leaves the next claim to scan from the start.
         */
        void claimed(long now, boolean fullScan, boolean foundBelow, @Nullable ClaimKey continueAfter) {
            if (fullScan) {
                lastFullScan = now;
            }
            key.set(foundBelow ? null : continueAfter);
        }
    }

    @Override
    public Optional<Instant> heartbeat(JobId id, LeaseToken token, Duration lease) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        checkPositive("lease", lease);
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.HEARTBEAT)) {
            ps.setLong(1, QueueSql.micros(lease));
            ps.setLong(2, id.value());
            ps.setObject(3, token.value());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(instant(rs, 1)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("heartbeat", e);
        }
    }

    @Override
    public boolean complete(JobId id, LeaseToken token) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.COMPLETE)) {
            ps.setLong(1, id.value());
            ps.setObject(2, token.value());
            return singleLong(ps) == 1;
        } catch (SQLException e) {
            throw failure("complete", e);
        }
    }

    @Override
    public boolean complete(Connection connection, JobId id, LeaseToken token) {
        Objects.requireNonNull(connection, "connection");
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        try (PreparedStatement ps = connection.prepareStatement(QueueSql.COMPLETE)) {
            ps.setLong(1, id.value());
            ps.setObject(2, token.value());
            return singleLong(ps) == 1;
        } catch (SQLException e) {
            throw failure("complete", e);
        }
    }

    /** One statement for the whole batch (ids and tokens as two arrays). */
    @Override
    public Set<JobId> completeAll(Collection<ClaimedJob> jobs) {
        Objects.requireNonNull(jobs, "jobs");
        Set<JobId> done = new HashSet<>();
        if (jobs.isEmpty()) {
            return done;
        }
        Long[] ids = new Long[jobs.size()];
        UUID[] tokens = new UUID[jobs.size()];
        int i = 0;
        for (ClaimedJob job : jobs) {
            ids[i] = job.id().value();
            tokens[i++] = job.lease().value();
        }
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.COMPLETE_ALL)) {
            ps.setArray(1, c.createArrayOf("bigint", ids));
            ps.setArray(2, c.createArrayOf("uuid", tokens));
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    done.add(new JobId(rs.getLong(1)));
                }
            }
            return done;
        } catch (SQLException e) {
            throw failure("complete", e);
        }
    }

    @Override
    public boolean release(JobId id, LeaseToken token) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.RELEASE)) {
            ps.setLong(1, id.value());
            ps.setObject(2, token.value());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next();
            }
        } catch (SQLException e) {
            throw failure("release", e);
        }
    }

    @Override
    public QueueStats stats(String queue) {
        Objects.requireNonNull(queue, "queue");
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.STATS)) {
            ps.setString(1, queue);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return new QueueStats(
                        rs.getLong(1),
                        rs.getLong(2),
                        rs.getLong(3),
                        Duration.of(rs.getLong(4), java.time.temporal.ChronoUnit.MICROS));
            }
        } catch (SQLException e) {
            throw failure("stats", e);
        }
    }

    @Override
    public int purgeKeys(Duration window, int limit) {
        checkPositive("window", window);
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be >= 1, got " + limit);
        }
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.PURGE_KEYS)) {
            ps.setLong(1, QueueSql.micros(window));
            ps.setInt(2, limit);
            return ps.executeUpdate();
        } catch (SQLException e) {
            throw failure("purge keys", e);
        }
    }

    @Override
    public Connection connection() throws SQLException {
        return dataSource.getConnection();
    }

    /**
     * LISTENs for enqueues on a connection of its own, held from the DataSource until the returned
     * handle is closed (count it in the pool size), on a daemon thread; probes every 30 s that
     * notifications arrive (see {@link JobWakeups#notificationsMissing}). Returns once listening, or
     * after 5 s if the database does not answer (the thread goes on trying every second).
     */
    @Override
    public AutoCloseable subscribe(JobWakeups wakeups) {
        return subscribe(wakeups, Duration.ofSeconds(30), Duration.ofSeconds(5));
    }

    /**
     * As {@link #subscribe(JobWakeups)}, probing every {@code probeEvery} and reporting a probe
     * missing after {@code probeWait}.
     *
     * @param wakeups whom to tell
     * @param probeEvery how often to check that notifications arrive, positive
     * @param probeWait how long a probe may take to come back, positive
     * @return stops listening and closes the connection
     */
    public AutoCloseable subscribe(JobWakeups wakeups, Duration probeEvery, Duration probeWait) {
        Objects.requireNonNull(wakeups, "wakeups");
        checkPositive("probeEvery", probeEvery);
        checkPositive("probeWait", probeWait);
        return new JobNotificationListener(
                        dataSource,
                        wakeups,
                        TimeUnit.NANOSECONDS.convert(probeEvery),
                        TimeUnit.NANOSECONDS.convert(probeWait))
                .start(TimeUnit.SECONDS.toNanos(5));
    }

    @Override
    public FailOutcome fail(JobId id, LeaseToken token, String message, String worker, @Nullable Duration retryAfter) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(worker, "worker");
        if (retryAfter != null && retryAfter.isNegative()) {
            throw new IllegalArgumentException("retryAfter must not be negative, got " + retryAfter);
        }
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                FailOutcome outcome = failIn(c, id, token, message, worker, retryAfter);
                c.commit();
                return outcome;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("fail", e);
        }
    }

    private static FailOutcome failIn(
            Connection c, JobId id, LeaseToken token, String message, String worker, @Nullable Duration retryAfter)
            throws SQLException {
        int attempt;
        int maxAttempts;
        try (PreparedStatement ps = c.prepareStatement(QueueSql.LOCK_LEASED)) {
            ps.setLong(1, id.value());
            ps.setObject(2, token.value());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    return FailOutcome.STALE_LEASE;
                }
                attempt = rs.getInt(1);
                maxAttempts = rs.getInt(2);
            }
        }
        try (PreparedStatement ps = c.prepareStatement(QueueSql.RECORD_ERROR)) {
            ps.setLong(1, id.value());
            ps.setInt(2, attempt);
            ps.setString(3, message);
            ps.setString(4, worker);
            ps.executeUpdate();
        }
        if (retryAfter != null && attempt < maxAttempts) {
            try (PreparedStatement ps = c.prepareStatement(QueueSql.RETRY)) {
                ps.setLong(1, QueueSql.micros(retryAfter));
                ps.setLong(2, QueueSql.micros(retryAfter));
                ps.setLong(3, id.value());
                ps.executeUpdate();
            }
            return FailOutcome.RETRY_SCHEDULED;
        }
        try (PreparedStatement ps = c.prepareStatement(QueueSql.BURY)) {
            ps.setLong(1, id.value());
            ps.executeUpdate();
        }
        return FailOutcome.DEAD_LETTERED;
    }

    @Override
    public List<DeadLetter> list(DeadLetterFilter filter, int limit) {
        Objects.requireNonNull(filter, "filter");
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be >= 1, got " + limit);
        }
        QueueSql.Where where = QueueSql.where(filter);
        try (Connection c = autoCommit()) {
            List<Object[]> rows = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(QueueSql.list(where))) {
                int i = bind(ps, where);
                ps.setInt(i, limit);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(new Object[] {
                            rs.getLong(1),
                            rs.getString(2),
                            rs.getString(3),
                            rs.getBytes(4),
                            rs.getInt(5),
                            rs.getInt(6),
                            rs.getInt(7),
                            rs.getString(8),
                            instant(rs, 9),
                            instant(rs, 10)
                        });
                    }
                }
            }
            Map<Long, List<JobError>> errors =
                    errorsOf(c, rows.stream().map(r -> (Long) r[0]).toArray(Long[]::new));
            List<DeadLetter> out = new ArrayList<>(rows.size());
            for (Object[] r : rows) {
                long id = (Long) r[0];
                out.add(new DeadLetter(
                        new JobId(id),
                        (String) r[1],
                        (String) r[2],
                        (byte[]) r[3],
                        (Integer) r[4],
                        (Integer) r[5],
                        (Integer) r[6],
                        (String) r[7],
                        (Instant) r[8],
                        (Instant) r[9],
                        errors.getOrDefault(id, List.of())));
            }
            return out;
        } catch (SQLException e) {
            throw failure("list dead letters", e);
        }
    }

    private static Map<Long, List<JobError>> errorsOf(Connection c, Long[] ids) throws SQLException {
        Map<Long, List<JobError>> errors = new HashMap<>();
        if (ids.length == 0) {
            return errors;
        }
        Array array = c.createArrayOf("int8", ids);
        try (PreparedStatement ps = c.prepareStatement(QueueSql.ERRORS_OF)) {
            ps.setArray(1, array);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    errors.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>())
                            .add(new JobError(rs.getInt(2), rs.getString(3), rs.getString(4), instant(rs, 5)));
                }
            }
        } finally {
            array.free();
        }
        return errors;
    }

    @Override
    public int replay(DeadLetterFilter filter) {
        Objects.requireNonNull(filter, "filter");
        QueueSql.Where where = QueueSql.where(filter);
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.replay(where))) {
            bind(ps, where);
            return ps.executeUpdate();
        } catch (SQLException e) {
            throw failure("replay dead letters", e);
        }
    }

    @Override
    public int purge(DeadLetterFilter filter) {
        Objects.requireNonNull(filter, "filter");
        QueueSql.Where where = QueueSql.where(filter);
        try (Connection c = autoCommit();
                PreparedStatement ps = c.prepareStatement(QueueSql.purge(where))) {
            bind(ps, where);
            return Math.toIntExact(singleLong(ps));
        } catch (SQLException e) {
            throw failure("purge dead letters", e);
        }
    }

    private Connection autoCommit() throws SQLException {
        Connection c = dataSource.getConnection();
        try {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            return c;
        } catch (SQLException e) {
            c.close();
            throw e;
        }
    }

    private static int bind(PreparedStatement ps, QueueSql.Where where) throws SQLException {
        int i = 1;
        for (Object p : where.params()) {
            ps.setObject(i++, p);
        }
        return i;
    }

    private static void setRunAt(PreparedStatement ps, int index, @Nullable Instant runAt) throws SQLException {
        if (runAt == null) {
            ps.setNull(index, Types.TIMESTAMP_WITH_TIMEZONE);
        } else {
            ps.setObject(index, QueueSql.timestamp(runAt));
        }
    }

    private static long singleLong(PreparedStatement ps) throws SQLException {
        try (ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                throw new SQLException("statement returned no row");
            }
            return rs.getLong(1);
        }
    }

    private static Instant instant(ResultSet rs, int column) throws SQLException {
        OffsetDateTime t = rs.getObject(column, OffsetDateTime.class);
        if (t == null) {
            throw new SQLException("column " + column + " is null");
        }
        return t.toInstant();
    }

    private static void checkPositive(String field, Duration value) {
        Objects.requireNonNull(value, field);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(field + " must be positive, got " + value);
        }
    }

    private static JobStoreException failure(String operation, SQLException e) {
        return new JobStoreException(
                "PostgreSQL job store: " + operation + " failed: " + e.getMessage() + " (SQLState " + e.getSQLState()
                        + ")",
                e);
    }
}
