package dev.headroom.queue;

import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.queue.internal.QueueMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.management.ManagementFactory;
import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job queue: enqueue (idempotent, optionally inside the caller's JDBC transaction), claim with
 * leases, complete, fail with retries by {@link Backoff}, and dead letters. A façade over a {@link
 * JobStore}: it validates input, applies the retry policy and counts {@code headroom.queue.*}
 * metrics; the store enforces everything that must hold across processes.
 *
 * <pre>{@code
 * JobQueue queue = JobQueue.builder(PostgresJobStore.create(dataSource))
 *         .meterRegistry(registry)
 *         .build();
 * JobId id = queue.enqueue("send-confirmation", orderJson, Codec.utf8(),
 *         EnqueueOptions.builder().idempotencyKey("order-42-confirmation").build());
 * }</pre>
 *
 * <p>Promises, under failure too:
 *
 * <ul>
 *   <li>an enqueue with an idempotency key creates at most one job per key however many threads or
 *       processes race, and every caller gets that job's id (or, under {@link
 *       DuplicatePolicy#REJECT_DIFFERENT_PAYLOAD}, a {@link DuplicateJobException} if its payload
 *       differs);
 *   <li>a transactional enqueue's job exists if and only if the caller's transaction commits;
 *   <li>a stale lease token's {@code complete}, {@code fail} and {@code heartbeat} change nothing,
 *       return that they were refused, and count {@code headroom.queue.stale_token_refused};
 *   <li>a failed attempt is retried after {@code backoff.delay(attempt)}; the last one moves the job
 *       to the dead letters with its error history;
 *   <li>a store failure surfaces as {@link JobStoreException}: the operation had no effect, unless
 *       the connection broke after its commit was sent (see {@link JobStoreException}: give enqueues
 *       that may be retried an idempotency key).
 * </ul>
 *
 * <p>Thread-safe. Closing removes the meters; the store is the caller's to close.
 */
public final class JobQueue implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JobQueue.class);

    /** Default largest payload: 1 MiB. */
    public static final int DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;
    /** Largest stack trace kept in an error history entry, in characters. */
    static final int MAX_ERROR_CHARS = 8_192;

    private final JobStore store;
    private final Backoff backoff;
    private final DuplicatePolicy duplicatePolicy;
    private final int maxPayloadBytes;
    private final String worker;
    private final QueueMetrics metrics;

    private JobQueue(Builder b) {
        this.store = b.store;
        this.backoff = b.backoff;
        this.duplicatePolicy = b.duplicatePolicy;
        this.maxPayloadBytes = b.maxPayloadBytes;
        this.worker = b.worker;
        this.metrics = new QueueMetrics(b.registry);
    }

    /**
     * Returns a builder over a store.
     *
     * @param store where jobs live
     * @return a new builder
     */
    public static Builder builder(JobStore store) {
        return new Builder(Objects.requireNonNull(store, "store"));
    }

    /**
     * Enqueues a job with the default options.
     *
     * @param type the job type, non-blank
     * @param payload the payload; not copied, do not modify it afterwards
     * @return the job's id
     * @throws IllegalArgumentException naming the field if the type is blank or the payload too large
     * @throws JobStoreException if the store fails; then nothing was enqueued
     */
    public JobId enqueue(String type, byte[] payload) {
        return enqueue(type, payload, EnqueueOptions.defaults());
    }

    /**
     * Enqueues a job; with an idempotency key already taken, returns the job that holds it.
     *
     * @param type the job type, non-blank
     * @param payload the payload; not copied, do not modify it afterwards
     * @param options key, queue, priority, run-at, attempts
     * @return the new job's id, or the existing job's for a taken key
     * @throws IllegalArgumentException naming the field if the type is blank or the payload too large
     * @throws DuplicateJobException under {@link DuplicatePolicy#REJECT_DIFFERENT_PAYLOAD}, if the key
     *     is taken by a different job
     * @throws JobStoreException if the store fails; then nothing was enqueued
     */
    public JobId enqueue(String type, byte[] payload, EnqueueOptions options) {
        NewJob job = newJob(type, payload, options);
        return accept(job, store.enqueue(job));
    }

    /** Largest batch {@link #enqueueAll(List)} takes. */
    public static final int MAX_BATCH = 100_000;

    /**
     * Enqueues a batch of jobs: on PostgreSQL all or none, in one transaction, the jobs without
     * idempotency keys in two statements whatever their number (keyed ones one statement each), and
     * one {@code NOTIFY} per queue. Each job is checked as {@link #enqueue(String, byte[],
     * EnqueueOptions)} checks it.
     *
     * @param jobs at most {@link #MAX_BATCH} jobs
     * @return one id per job, in order (a taken key's existing job)
     * @throws IllegalArgumentException naming the job and field, for a bad job or too big a batch
     * @throws DuplicateJobException under {@link DuplicatePolicy#REJECT_DIFFERENT_PAYLOAD}; on
     *     PostgreSQL the batch is then still enqueued
     * @throws JobStoreException if the store fails
     */
    public List<JobId> enqueueAll(List<NewJob> jobs) {
        checkBatch(jobs);
        return acceptAll(jobs, store.enqueueAll(jobs));
    }

    /**
     * Enqueues a batch inside the caller's transaction (see {@link #enqueueAll(List)} and {@link
     * #enqueue(Connection, String, byte[], EnqueueOptions)}).
     *
     * @param connection the caller's connection, in its transaction
     * @param jobs at most {@link #MAX_BATCH} jobs
     * @return one id per job, in order
     * @throws UnsupportedOperationException if the store is not transactional
     */
    public List<JobId> enqueueAll(Connection connection, List<NewJob> jobs) {
        Objects.requireNonNull(connection, "connection");
        if (!(store instanceof TransactionalJobStore transactional)) {
            throw new UnsupportedOperationException(
                    store.getClass().getSimpleName() + " cannot enqueue inside a caller's transaction");
        }
        checkBatch(jobs);
        return acceptAll(jobs, transactional.enqueueAll(connection, jobs));
    }

    private void checkBatch(List<NewJob> jobs) {
        Objects.requireNonNull(jobs, "jobs");
        if (jobs.size() > MAX_BATCH) {
            throw new IllegalArgumentException("jobs must hold at most " + MAX_BATCH + " jobs, got " + jobs.size());
        }
        for (int i = 0; i < jobs.size(); i++) {
            NewJob job = Objects.requireNonNull(jobs.get(i), "jobs[" + i + "]");
            if (job.payload().length > maxPayloadBytes) {
                throw new IllegalArgumentException("jobs[" + i + "].payload must be at most " + maxPayloadBytes
                        + " bytes, got " + job.payload().length);
            }
        }
    }

    private List<JobId> acceptAll(List<NewJob> jobs, List<EnqueueResult> results) {
        List<JobId> ids = new ArrayList<>(results.size());
        for (int i = 0; i < results.size(); i++) {
            ids.add(accept(jobs.get(i), results.get(i)));
        }
        return ids;
    }

    /**
     * Encodes a value with a codec and enqueues it.
     *
     * @param type the job type, non-blank
     * @param value the value
     * @param codec how to turn it into bytes
     * @param options key, queue, priority, run-at, attempts
     * @param <T> the value type
     * @return the job's id (see {@link #enqueue(String, byte[], EnqueueOptions)})
     * @throws dev.headroom.core.CodecException if the value cannot be encoded
     */
    public <T> JobId enqueue(String type, T value, Codec<T> codec, EnqueueOptions options) {
        Objects.requireNonNull(value, "value");
        Objects.requireNonNull(codec, "codec");
        return enqueue(type, codec.encode(value), options);
    }

    /**
     * Enqueues inside the caller's transaction: the job exists if and only if the caller commits.
     * Requires a {@link TransactionalJobStore} whose database the connection belongs to.
     *
     * @param connection the caller's connection, in its transaction; neither committed nor rolled back
     * @param type the job type, non-blank
     * @param payload the payload
     * @param options key, queue, priority, run-at, attempts
     * @return the job's id (see {@link #enqueue(String, byte[], EnqueueOptions)})
     * @throws UnsupportedOperationException if the store is not transactional
     * @throws JobStoreException if the database refuses; the caller's transaction is then aborted
     */
    public JobId enqueue(Connection connection, String type, byte[] payload, EnqueueOptions options) {
        Objects.requireNonNull(connection, "connection");
        if (!(store instanceof TransactionalJobStore transactional)) {
            throw new UnsupportedOperationException(
                    store.getClass().getSimpleName() + " cannot enqueue inside a caller's transaction");
        }
        NewJob job = newJob(type, payload, options);
        return accept(job, transactional.enqueue(connection, job));
    }

    /**
     * Encodes a value with a codec and enqueues it inside the caller's transaction (see {@link
     * #enqueue(Connection, String, byte[], EnqueueOptions)}).
     *
     * @param connection the caller's connection, in its transaction
     * @param type the job type, non-blank
     * @param value the value
     * @param codec how to turn it into bytes
     * @param options key, queue, priority, run-at, attempts
     * @param <T> the value type
     * @return the job's id
     * @throws dev.headroom.core.CodecException if the value cannot be encoded
     */
    public <T> JobId enqueue(Connection connection, String type, T value, Codec<T> codec, EnqueueOptions options) {
        Objects.requireNonNull(value, "value");
        Objects.requireNonNull(codec, "codec");
        return enqueue(connection, type, codec.encode(value), options);
    }

    /**
     * Claims up to {@code max} due jobs of a queue, each with a lease of {@code lease}. Expired
     * leases on their last attempt that the claim dead-letters instead are counted in {@code
     * headroom.queue.dead_lettered}.
     *
     * @param queue the queue
     * @param max at least 1
     * @param lease positive
     * @return the claimed jobs, possibly none
     * @throws JobStoreException if the store fails; then nothing was claimed
     */
    public List<ClaimedJob> claim(String queue, int max, Duration lease) {
        NewJob.checkName("queue", queue);
        ClaimBatch batch = store.claimBatch(queue, max, lease, worker);
        metrics.claimed(queue, batch.jobs().size());
        if (batch.deadLettered() > 0) {
            log.warn(
                    "{} job(s) of queue '{}' moved to the dead letters: lease expired on the last attempt",
                    batch.deadLettered(),
                    queue);
            for (int i = 0; i < batch.deadLettered(); i++) {
                metrics.deadLettered(queue);
            }
        }
        return batch.jobs();
    }

    /**
     * Extends a job's lease to {@code lease} from now.
     *
     * @param job the claimed job
     * @param lease positive
     * @return the new expiry, or empty if the lease is stale (the worker should stop the job)
     */
    public Optional<Instant> heartbeat(ClaimedJob job, Duration lease) {
        Optional<Instant> extended = store.heartbeat(job.id(), job.lease(), lease);
        if (extended.isEmpty()) {
            metrics.staleTokenRefused(job.queue(), "heartbeat");
        }
        return extended;
    }

    /**
     * Completes a job.
     *
     * @param job the claimed job
     * @return true if completed; false if its lease is stale (someone else holds or finished it)
     */
    public boolean complete(ClaimedJob job) {
        boolean done = store.complete(job.id(), job.lease());
        if (done) {
            metrics.completed(job.queue());
        } else {
            metrics.staleTokenRefused(job.queue(), "complete");
        }
        return done;
    }

    /**
     * Records a failed attempt: retried after the backoff delay for this attempt, or dead-lettered if
     * it was the last.
     *
     * @param job the claimed job
     * @param error what went wrong; its stack trace (up to 8,192 characters) goes into the history
     * @return what happened, {@link FailOutcome#STALE_LEASE} if the lease is stale
     */
    public FailOutcome fail(ClaimedJob job, Throwable error) {
        return fail(job, render(error));
    }

    /**
     * Records a failed attempt with a message (see {@link #fail(ClaimedJob, Throwable)}).
     *
     * @param job the claimed job
     * @param message what went wrong; kept up to 8,192 characters, a NUL character as U+FFFD
     * @return what happened
     */
    public FailOutcome fail(ClaimedJob job, String message) {
        Objects.requireNonNull(message, "message");
        int attempt = Math.max(1, job.attempt());
        // A job does not carry its last delay: a DECORRELATED backoff gets the previous attempt's
        // un-jittered step instead, so that its delays still grow (with ZERO they never did).
        Duration previous = attempt > 1 ? backoff.ceiling(attempt - 1) : Duration.ZERO;
        Duration delay = backoff.delay(attempt, previous);
        return counted(job, store.fail(job.id(), job.lease(), errorText(message), worker, delay));
    }

    /**
     * Moves a job to the dead letters at once, whatever attempts it has left: for failures no retry
     * can fix (an unknown type, an undecodable payload).
     *
     * @param job the claimed job
     * @param message why
     * @return {@link FailOutcome#DEAD_LETTERED}, or {@link FailOutcome#STALE_LEASE}
     */
    public FailOutcome failPermanently(ClaimedJob job, String message) {
        Objects.requireNonNull(message, "message");
        return counted(job, store.fail(job.id(), job.lease(), errorText(message), worker, null));
    }

    /** Completes a batch; counts each completion and each stale token. */
    Set<JobId> completeAll(List<ClaimedJob> jobs) {
        Set<JobId> done = store.completeAll(jobs);
        for (ClaimedJob job : jobs) {
            if (done.contains(job.id())) {
                metrics.completed(job.queue());
            } else {
                metrics.staleTokenRefused(job.queue(), "complete");
            }
        }
        return done;
    }

    /** Completes a job in the caller's transaction (see {@link TransactionalJobStore#complete(Connection, JobId, LeaseToken)}). */
    boolean completeIn(Connection connection, ClaimedJob job) {
        if (!(store instanceof TransactionalJobStore tx)) {
            throw new IllegalStateException(
                    "the store is not transactional: " + store.getClass().getName());
        }
        boolean done = tx.complete(connection, job.id(), job.lease());
        if (!done) {
            metrics.staleTokenRefused(job.queue(), "complete");
        }
        return done;
    }

    /** Counts a completion made in a caller's transaction once it committed. */
    void committed(ClaimedJob job) {
        metrics.completed(job.queue());
    }

    /** Gives back an unstarted job. */
    boolean release(ClaimedJob job) {
        boolean released = store.release(job.id(), job.lease());
        if (released) {
            metrics.released(job.queue());
        } else {
            metrics.staleTokenRefused(job.queue(), "release");
        }
        return released;
    }

    JobStore store() {
        return store;
    }

    /** Returns the dead letters of the store. */
    public DeadLetters deadLetters() {
        return store;
    }

    /** Returns the worker name recorded in error histories. */
    public String worker() {
        return worker;
    }

    /** Removes this queue's meters. Does not close the store. */
    @Override
    public void close() {
        metrics.close();
    }

    private FailOutcome counted(ClaimedJob job, FailOutcome outcome) {
        switch (outcome) {
            case RETRY_SCHEDULED -> metrics.failed(job.queue());
            case DEAD_LETTERED -> metrics.deadLettered(job.queue());
            case STALE_LEASE -> metrics.staleTokenRefused(job.queue(), "fail");
        }
        return outcome;
    }

    private NewJob newJob(String type, byte[] payload, EnqueueOptions options) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(payload, "payload");
        Objects.requireNonNull(options, "options");
        if (payload.length > maxPayloadBytes) {
            throw new IllegalArgumentException(
                    "payload must be at most " + maxPayloadBytes + " bytes, got " + payload.length);
        }
        return NewJob.of(type, payload, options);
    }

    private JobId accept(NewJob job, EnqueueResult result) {
        metrics.enqueued(job.queue(), result.created());
        if (result.outcome() == EnqueueResult.Outcome.DUPLICATE_DIFFERENT_PAYLOAD
                && duplicatePolicy == DuplicatePolicy.REJECT_DIFFERENT_PAYLOAD) {
            String key = job.idempotencyKey();
            throw new DuplicateJobException(key != null ? key : "", result.id());
        }
        return result.id();
    }

    private static String render(Throwable error) {
        Objects.requireNonNull(error, "error");
        StringWriter out = new StringWriter();
        error.printStackTrace(new PrintWriter(out));
        return out.toString();
    }

    /**
     * An error message as the history keeps it: at most {@value #MAX_ERROR_CHARS} characters, NUL
     * characters (which PostgreSQL text refuses: the failure itself would fail) shown as U+FFFD.
     */
    static String errorText(String message) {
        String text = message.length() <= MAX_ERROR_CHARS ? message : message.substring(0, MAX_ERROR_CHARS);
        return text.indexOf('\0') < 0 ? text : text.replace('\0', '\uFFFD');
    }

    /** Builds a {@link JobQueue}; each setter checks its argument. Not thread-safe. */
    public static final class Builder {
        private final JobStore store;
        private Backoff backoff = Backoff.builder()
                .base(Duration.ofSeconds(1))
                .cap(Duration.ofMinutes(10))
                .maxAttempts(Integer.MAX_VALUE)
                .build();
        private DuplicatePolicy duplicatePolicy = DuplicatePolicy.RETURN_EXISTING;
        private int maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
        private String worker = defaultWorker();
        private @Nullable MeterRegistry registry;

        private Builder(JobStore store) {
            this.store = store;
        }

        /**
         * Sets the delay before each retry: attempt {@code n} failing waits {@code
         * backoff.delay(n, ZERO)}. The job's own {@code maxAttempts} limits attempts; the backoff's
         * is ignored. Default: full jitter, base 1 s, cap 10 min.
         *
         * @param backoff the backoff
         * @return this builder
         */
        public Builder backoff(Backoff backoff) {
            this.backoff = Objects.requireNonNull(backoff, "backoff");
            return this;
        }

        /**
         * Sets what a duplicate key with a different payload does. Default {@link
         * DuplicatePolicy#RETURN_EXISTING}.
         *
         * @param policy the policy
         * @return this builder
         */
        public Builder duplicatePolicy(DuplicatePolicy policy) {
            this.duplicatePolicy = Objects.requireNonNull(policy, "duplicatePolicy");
            return this;
        }

        /**
         * Sets the largest payload accepted. Default 1 MiB.
         *
         * @param maxPayloadBytes at least 1
         * @return this builder
         * @throws IllegalArgumentException if {@code maxPayloadBytes < 1}
         */
        public Builder maxPayloadBytes(int maxPayloadBytes) {
            if (maxPayloadBytes < 1) {
                throw new IllegalArgumentException("maxPayloadBytes must be >= 1, got " + maxPayloadBytes);
            }
            this.maxPayloadBytes = maxPayloadBytes;
            return this;
        }

        /**
         * Sets the worker name recorded when this queue claims and fails jobs. Default: the JVM's
         * {@code pid@host} name.
         *
         * @param worker a non-blank name of at most 255 characters
         * @return this builder
         */
        public Builder worker(String worker) {
            this.worker = NewJob.checkName("worker", worker);
            return this;
        }

        /**
         * Sets where metrics go. Default: none.
         *
         * @param registry the registry
         * @return this builder
         */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "meterRegistry");
            return this;
        }

        /**
         * Builds the queue.
         *
         * @return the queue
         */
        public JobQueue build() {
            return new JobQueue(this);
        }

        private static String defaultWorker() {
            String name = ManagementFactory.getRuntimeMXBean().getName();
            return name.isBlank() || name.length() > EnqueueOptions.MAX_NAME_LENGTH ? "worker" : name;
        }
    }
}
