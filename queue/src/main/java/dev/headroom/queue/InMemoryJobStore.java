package dev.headroom.queue;

import dev.headroom.core.Ticker;
import dev.headroom.queue.internal.PayloadDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * A {@link JobStore} in this process's memory, with the same semantics as the PostgreSQL store:
 * idempotency keys, leases that expire on a {@link Ticker} (so tests drive time with a fake one),
 * rescue of expired leases by the next claim, fencing on the lease token, dead letters with error
 * history. Jobs are lost when the process ends: for development and tests, not production.
 *
 * <p>Thread-safe: one lock guards the state; no method blocks on anything else while holding it.
 */
public final class InMemoryJobStore implements JobStore {

    private final ReentrantLock lock = new ReentrantLock();
    private final Ticker ticker;
    private final long originNanos;
    private final Instant origin;
    private final Map<Long, Job> jobs = new HashMap<>();
    private final Map<String, Key> keys = new HashMap<>();
    private final Map<Long, DeadLetter> dead = new LinkedHashMap<>();
    private final Map<Long, List<JobError>> errors = new HashMap<>();
    private final List<JobWakeups> subscribers = new CopyOnWriteArrayList<>();
    private long nextId = 1;

    private InMemoryJobStore(Ticker ticker, Instant origin) {
        this.ticker = ticker;
        this.originNanos = ticker.read();
        this.origin = origin;
    }

    /**
     * Creates a store on the system ticker, whose clock starts at the current wall-clock time.
     *
     * @return a new, empty store
     */
    public static InMemoryJobStore create() {
        return create(Ticker.system());
    }

    /**
     * Creates a store whose clock is {@code Instant.now()} at creation plus the time {@code ticker}
     * reports as passed since.
     *
     * @param ticker the time source, such as a fake one in tests
     * @return a new, empty store
     */
    public static InMemoryJobStore create(Ticker ticker) {
        return new InMemoryJobStore(Objects.requireNonNull(ticker, "ticker"), Instant.now());
    }

    /** Returns the store's current time: creation time plus the ticker's elapsed time. */
    public Instant now() {
        return origin.plusNanos(ticker.read() - originNanos);
    }

    @Override
    public EnqueueResult enqueue(NewJob job) {
        EnqueueResult result = enqueueLocked(job);
        if (result.created()) {
            wake(job.queue());
        }
        return result;
    }

    /** All or nothing (the jobs are checked before the first is enqueued), under the store's lock. */
    @Override
    public List<EnqueueResult> enqueueAll(List<NewJob> jobs) {
        Objects.requireNonNull(jobs, "jobs");
        for (int i = 0; i < jobs.size(); i++) {
            Objects.requireNonNull(jobs.get(i), "jobs[" + i + "]");
        }
        List<EnqueueResult> results = new ArrayList<>(jobs.size());
        Set<String> queues = new LinkedHashSet<>();
        lock.lock();
        try {
            for (NewJob job : jobs) {
                EnqueueResult r = enqueueLocked(job);
                results.add(r);
                if (r.created()) {
                    queues.add(job.queue());
                }
            }
        } finally {
            lock.unlock();
        }
        queues.forEach(this::wake);
        return results;
    }

    private void wake(String queue) {
        for (JobWakeups w : subscribers) {
            w.jobsAvailable(queue);
        }
    }

    /** Wakeups are told on the enqueuing thread, after the enqueue (this store's "commit"). */
    @Override
    public AutoCloseable subscribe(JobWakeups wakeups) {
        Objects.requireNonNull(wakeups, "wakeups");
        subscribers.add(wakeups);
        return () -> subscribers.remove(wakeups);
    }

    @Override
    public boolean release(JobId id, LeaseToken token) {
        String queue;
        lock.lock();
        try {
            Job j = leased(id, token);
            if (j == null) {
                return false;
            }
            j.attempt--;
            j.lease = null;
            j.leaseExpiresAt = null;
            queue = j.queue;
        } finally {
            lock.unlock();
        }
        wake(queue);
        return true;
    }

    private EnqueueResult enqueueLocked(NewJob job) {
        Objects.requireNonNull(job, "job");
        lock.lock();
        try {
            Instant now = now();
            String key = job.idempotencyKey();
            byte[] digest = key == null ? new byte[0] : PayloadDigest.of(job.type(), job.payload());
            if (key != null) {
                Key held = keys.get(key);
                if (held != null) {
                    return new EnqueueResult(
                            new JobId(held.jobId),
                            Arrays.equals(held.digest, digest)
                                    ? EnqueueResult.Outcome.DUPLICATE
                                    : EnqueueResult.Outcome.DUPLICATE_DIFFERENT_PAYLOAD);
                }
            }
            long id = nextId++;
            Instant runAt = job.runAt();
            jobs.put(id, new Job(id, job, job.payload().clone(), runAt != null ? runAt : now, now));
            if (key != null) {
                keys.put(key, new Key(id, digest, now));
            }
            return new EnqueueResult(new JobId(id), EnqueueResult.Outcome.CREATED);
        } finally {
            lock.unlock();
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
        checkClaim(max, lease);
        lock.lock();
        try {
            Instant now = now();
            List<Job> due = new ArrayList<>();
            int buried = 0;
            for (Iterator<Job> it = jobs.values().iterator(); it.hasNext(); ) {
                Job j = it.next();
                if (!j.queue.equals(queue)) {
                    continue;
                }
                boolean available = j.lease == null && !j.runAt.isAfter(now);
                Instant expiry = j.leaseExpiresAt;
                boolean expired = j.lease != null && expiry != null && !expiry.isAfter(now);
                if (expired && j.attempt >= j.maxAttempts) {
                    it.remove();
                    bury(j, "lease expired on the last attempt", j.worker, now);
                    buried++;
                } else if (available || expired) {
                    due.add(j);
                }
            }
            due.sort(Comparator.<Job>comparingInt(j -> j.priority)
                    .thenComparing(j -> j.runAt)
                    .thenComparingLong(j -> j.id));
            List<ClaimedJob> claimed = new ArrayList<>();
            Instant expiresAt = now.plus(lease);
            for (Job j : due.subList(0, Math.min(max, due.size()))) {
                LeaseToken token = new LeaseToken(UUID.randomUUID());
                j.attempt++;
                j.lease = token;
                j.leaseExpiresAt = expiresAt;
                j.worker = worker;
                claimed.add(new ClaimedJob(
                        new JobId(j.id),
                        j.type,
                        j.queue,
                        j.payload.clone(),
                        j.priority,
                        j.attempt,
                        j.maxAttempts,
                        j.idempotencyKey,
                        token,
                        expiresAt,
                        j.runAt));
            }
            return new ClaimBatch(claimed, buried);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Optional<Instant> heartbeat(JobId id, LeaseToken token, Duration lease) {
        checkLease(lease);
        lock.lock();
        try {
            Job j = leased(id, token);
            if (j == null) {
                return Optional.empty();
            }
            Instant expiresAt = now().plus(lease);
            j.leaseExpiresAt = expiresAt;
            return Optional.of(expiresAt);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean complete(JobId id, LeaseToken token) {
        lock.lock();
        try {
            Job j = leased(id, token);
            if (j == null) {
                return false;
            }
            jobs.remove(j.id);
            errors.remove(j.id);
            return true;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public FailOutcome fail(JobId id, LeaseToken token, String message, String worker, @Nullable Duration retryAfter) {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(worker, "worker");
        if (retryAfter != null && retryAfter.isNegative()) {
            throw new IllegalArgumentException("retryAfter must not be negative, got " + retryAfter);
        }
        lock.lock();
        try {
            Job j = leased(id, token);
            if (j == null) {
                return FailOutcome.STALE_LEASE;
            }
            Instant now = now();
            if (retryAfter == null || j.attempt >= j.maxAttempts) {
                jobs.remove(j.id);
                bury(j, message, worker, now);
                return FailOutcome.DEAD_LETTERED;
            }
            errors.computeIfAbsent(j.id, k -> new ArrayList<>()).add(new JobError(j.attempt, message, worker, now));
            j.lease = null;
            j.leaseExpiresAt = null;
            j.runAt = now.plus(retryAfter);
            return FailOutcome.RETRY_SCHEDULED;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public List<DeadLetter> list(DeadLetterFilter filter, int limit) {
        Objects.requireNonNull(filter, "filter");
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be >= 1, got " + limit);
        }
        lock.lock();
        try {
            List<DeadLetter> out = new ArrayList<>();
            for (DeadLetter d : dead.values()) {
                if (out.size() == limit) {
                    break;
                }
                if (matches(filter, d)) {
                    out.add(copy(d));
                }
            }
            return out;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int replay(DeadLetterFilter filter) {
        Objects.requireNonNull(filter, "filter");
        lock.lock();
        try {
            Instant now = now();
            int n = 0;
            for (Iterator<DeadLetter> it = dead.values().iterator(); it.hasNext(); ) {
                DeadLetter d = it.next();
                if (!matches(filter, d)) {
                    continue;
                }
                it.remove();
                NewJob again = new NewJob(
                        d.type(), d.payload(), d.queue(), d.priority(), now, d.maxAttempts(), d.idempotencyKey());
                jobs.put(d.id().value(), new Job(d.id().value(), again, d.payload(), now, d.enqueuedAt()));
                n++;
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int purge(DeadLetterFilter filter) {
        Objects.requireNonNull(filter, "filter");
        lock.lock();
        try {
            int n = 0;
            for (Iterator<DeadLetter> it = dead.values().iterator(); it.hasNext(); ) {
                DeadLetter d = it.next();
                if (matches(filter, d)) {
                    it.remove();
                    errors.remove(d.id().value());
                    n++;
                }
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    static void checkClaim(int max, Duration lease) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be >= 1, got " + max);
        }
        checkLease(lease);
    }

    static void checkLease(Duration lease) {
        Objects.requireNonNull(lease, "lease");
        if (lease.isNegative() || lease.isZero()) {
            throw new IllegalArgumentException("lease must be positive, got " + lease);
        }
    }

    private @Nullable Job leased(JobId id, LeaseToken token) {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(token, "token");
        Job j = jobs.get(id.value());
        return j != null && token.equals(j.lease) ? j : null;
    }

    /** Moves a job already removed from {@code jobs} to the dead letters. Holds the lock. */
    private void bury(Job j, String message, String worker, Instant now) {
        List<JobError> history = errors.computeIfAbsent(j.id, k -> new ArrayList<>());
        history.add(new JobError(j.attempt, message, worker, now));
        dead.put(
                j.id,
                new DeadLetter(
                        new JobId(j.id),
                        j.type,
                        j.queue,
                        j.payload,
                        j.priority,
                        j.attempt,
                        j.maxAttempts,
                        j.idempotencyKey,
                        j.enqueuedAt,
                        now,
                        history));
    }

    private static boolean matches(DeadLetterFilter f, DeadLetter d) {
        String type = f.type();
        String queue = f.queue();
        Instant from = f.deadFrom();
        Instant before = f.deadBefore();
        String text = f.errorContains();
        return (type == null || type.equals(d.type()))
                && (queue == null || queue.equals(d.queue()))
                && (from == null || !d.deadAt().isBefore(from))
                && (before == null || d.deadAt().isBefore(before))
                && (text == null || anyErrorContains(d, text));
    }

    private static boolean anyErrorContains(DeadLetter d, String text) {
        for (JobError e : d.errors()) {
            if (e.message().contains(text)) {
                return true;
            }
        }
        return false;
    }

    private static DeadLetter copy(DeadLetter d) {
        return new DeadLetter(
                d.id(),
                d.type(),
                d.queue(),
                d.payload().clone(),
                d.priority(),
                d.attempts(),
                d.maxAttempts(),
                d.idempotencyKey(),
                d.enqueuedAt(),
                d.deadAt(),
                d.errors());
    }

    @Override
    public QueueStats stats(String queue) {
        Objects.requireNonNull(queue, "queue");
        lock.lock();
        try {
            Instant now = now();
            long ready = 0;
            long scheduled = 0;
            long running = 0;
            Instant oldest = null;
            for (Job j : jobs.values()) {
                if (!j.queue.equals(queue)) {
                    continue;
                }
                if (j.lease != null) {
                    running++;
                } else if (j.runAt.isAfter(now)) {
                    scheduled++;
                } else {
                    ready++;
                    if (oldest == null || j.runAt.isBefore(oldest)) {
                        oldest = j.runAt;
                    }
                }
            }
            return new QueueStats(
                    ready, scheduled, running, oldest == null ? Duration.ZERO : Duration.between(oldest, now));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public int purgeKeys(Duration window, int limit) {
        Objects.requireNonNull(window, "window");
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("window must be positive, got " + window);
        }
        if (limit < 1) {
            throw new IllegalArgumentException("limit must be >= 1, got " + limit);
        }
        lock.lock();
        try {
            Instant before = now().minus(window);
            int n = 0;
            for (Iterator<Key> it = keys.values().iterator(); it.hasNext() && n < limit; ) {
                Key k = it.next();
                if (k.createdAt.isBefore(before) && !jobs.containsKey(k.jobId) && !dead.containsKey(k.jobId)) {
                    it.remove();
                    n++;
                }
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    private static final class Job {
        final long id;
        final String type;
        final String queue;
        final byte[] payload;
        final int priority;
        final int maxAttempts;
        final @Nullable String idempotencyKey;
        final Instant enqueuedAt;
        Instant runAt;
        int attempt;

        @Nullable
        LeaseToken lease;

        @Nullable
        Instant leaseExpiresAt;

        String worker = "";

        Job(long id, NewJob job, byte[] payload, Instant runAt, Instant enqueuedAt) {
            this.id = id;
            this.type = job.type();
            this.queue = job.queue();
            this.payload = payload;
            this.priority = job.priority();
            this.maxAttempts = job.maxAttempts();
            this.idempotencyKey = job.idempotencyKey();
            this.runAt = runAt;
            this.enqueuedAt = enqueuedAt;
        }
    }

    private record Key(long jobId, byte[] digest, Instant createdAt) {}
}
