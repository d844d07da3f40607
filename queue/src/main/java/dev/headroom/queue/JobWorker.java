package dev.headroom.queue;

import dev.headroom.core.Codec;
import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs jobs: claims them from a {@link JobQueue} in batches, hands each to the handler registered
 * for its type on an executor, keeps the leases alive while they run, and completes, retries or
 * dead-letters them.
 *
 * <pre>{@code
 * JobWorker worker = JobWorker.builder(queue)
 *         .handler("send-confirmation", Codec.utf8(), (orderJson, ctx) -> mailer.send(orderJson))
 *         .transactionalHandler("charge", Codec.utf8(), (orderId, ctx) -> ledger.charge(ctx.connection(), orderId))
 *         .queue("default", 16)
 *         .build()
 *         .start();
 * }</pre>
 *
 * <p>What it promises, under failure too:
 *
 * <ul>
 *   <li>at most {@code concurrency} jobs of a queue run at once in this worker, and at most {@code
 *       rateLimit} start per second;
 *   <li>a job is claimed when a {@code NOTIFY} says one was enqueued (stores that support it), or at
 *       the latest one {@code pollInterval} after it became due;
 *   <li>a job whose handler returns is completed, in a batch with others that finished meanwhile; a
 *       job whose handler throws is retried by the queue's backoff, or dead-lettered after its last
 *       attempt; a job of an unknown type or with an undecodable payload is dead-lettered at once,
 *       without retries;
 *   <li>a {@linkplain Builder#transactionalHandler transactional handler}'s writes commit in the
 *       transaction that completes its job, fenced on its lease: a crash, a throw or a stale lease
 *       leaves the job to run again with those writes absent (exactly-once database effects);
 *   <li>a plain handler's effects are at-least-once: a worker that dies after the handler but before
 *       the completion, or whose lease expired, lets another worker run the job again;
 *   <li>{@link #shutdown} stops claiming, gives back jobs that did not start, and waits for the rest
 *       within its timeout.
 * </ul>
 *
 * <p>Metrics ({@code headroom.queue.*}, tagged by queue): {@code execution} timer (outcome), {@code
 * latency} timer (due to start, first attempts), {@code busy} gauge, {@code claim.errors}, {@code
 * notifications.missing}, plus the queue's own counters. Thread-safe.
 */
public final class JobWorker implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(JobWorker.class);

    /**
     * Handles one job type's payloads.
     *
     * @param <T> the payload type
     */
    @FunctionalInterface
    public interface Handler<T> {
        /**
         * Handles one attempt of a job. Returning completes the job; throwing fails the attempt.
         *
         * @param payload the decoded payload
         * @param context the job, its transaction's connection, and whether its lease is lost
         * @throws Exception to fail the attempt (it is retried, or dead-lettered after the last)
         */
        void handle(T payload, JobContext context) throws Exception;
    }

    /** A job in this worker, from claim to completion. */
    static final class Running {
        final ClaimedJob job;
        final Slots slots;
        /** 0 claimed, 1 started, 2 given back unstarted. */
        private final AtomicInteger state = new AtomicInteger();

        volatile boolean leaseLost;
        /**
         * Set once the handler is done and the job is being completed or failed: its row may be
         * gone or its token cleared any moment, so a heartbeat that finds it so is no lost lease.
         */
        volatile boolean finishing;

        Running(ClaimedJob job, Slots slots) {
            this.job = job;
            this.slots = slots;
        }

        boolean start() {
            return state.compareAndSet(0, 1);
        }

        boolean giveBack() {
            return state.compareAndSet(0, 2);
        }
    }

    private record Registered<T>(Codec<T> codec, Handler<T> handler, boolean transactional) {}

    /** One queue's concurrency, rate and wakeups. */
    static final class Slots {
        final String queue;
        final int concurrency;
        /** Claimed and unfinished jobs: concurrency plus prefetch. */
        final Semaphore free;
        /** Running handlers: concurrency. */
        final Semaphore running;

        final Semaphore wakeup = new Semaphore(0);
        /**
         * Claimed jobs waiting for a running slot (prefetched): handed to the executor only with a
         * slot in hand, so no executor thread ever waits for one (a prefetched job blocking a pool
         * thread starved the other queues of threads).
         */
        final ConcurrentLinkedQueue<Running> ready = new ConcurrentLinkedQueue<>();

        final @Nullable Bucket rate;
        /** The latest stats, read by the depth and age gauges. */
        volatile QueueStats stats = QueueStats.EMPTY;

        Slots(String queue, int concurrency, int prefetch, int jobsPerSecond) {
            this.queue = queue;
            this.concurrency = concurrency;
            this.free = new Semaphore(concurrency + prefetch);
            this.running = new Semaphore(concurrency);
            this.rate = jobsPerSecond <= 0
                    ? null
                    : Bucket.builder()
                            .addLimit(Bandwidth.builder()
                                    .capacity(jobsPerSecond)
                                    .refillGreedy(jobsPerSecond, Duration.ofSeconds(1))
                                    .build())
                            .build();
        }

        void wake() {
            if (wakeup.availablePermits() == 0) {
                wakeup.release();
            }
        }
    }

    private final JobQueue queue;
    private final Map<String, Registered<?>> handlers;
    private final Map<String, Slots> queues;
    private final Executor executor;
    private final @Nullable ExecutorService ownedExecutor;
    private final Duration lease;
    private final Duration statsInterval;
    private final @Nullable Duration idempotencyWindow;
    private final long pollNanos;
    private final int batchSize;
    private final @Nullable MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private final Map<String, Timer> latency = new ConcurrentHashMap<>();
    private final Map<List<String>, Timer> executions = new ConcurrentHashMap<>();
    private final Map<String, Counter> claimErrors = new ConcurrentHashMap<>();
    private final @Nullable Counter notificationsMissing;

    /** Claimed and not yet completed: what heartbeats keep alive. */
    private final Set<Running> inFlight = ConcurrentHashMap.newKeySet();

    private final LinkedBlockingQueue<Running> toComplete = new LinkedBlockingQueue<>();
    private final List<Thread> dispatchers = new ArrayList<>();
    private final Thread completer;
    private final ScheduledExecutorService heartbeats;
    /** Stats and key retention, on a thread of their own: a slow purge must not delay a heartbeat. */
    private final ScheduledExecutorService maintenance;

    private final Object idle = new Object();
    private volatile boolean claiming;
    private volatile boolean stopped;
    private @Nullable AutoCloseable subscription;
    private final AtomicInteger state = new AtomicInteger(); // 0 new, 1 started, 2 shut down

    private JobWorker(Builder b) {
        this.queue = b.queue;
        this.handlers = Map.copyOf(b.handlers);
        Map<String, Slots> slots = new LinkedHashMap<>();
        b.concurrency.forEach(
                (name, n) -> slots.put(name, new Slots(name, n, b.prefetch, b.rates.getOrDefault(name, 0))));
        this.queues = Map.copyOf(slots);
        int total = b.concurrency.values().stream().mapToInt(Integer::intValue).sum();
        if (b.executor == null) {
            this.ownedExecutor = Executors.newFixedThreadPool(total, named("headroom-queue-worker"));
            this.executor = ownedExecutor;
        } else {
            this.ownedExecutor = null;
            this.executor = b.executor;
        }
        this.lease = b.lease;
        this.statsInterval = b.statsInterval;
        this.idempotencyWindow = b.idempotencyWindow;
        this.pollNanos = b.pollInterval.toNanos();
        this.batchSize = b.batchSize;
        this.registry = b.registry;
        this.completer = named("headroom-queue-completer").newThread(this::completeLoop);
        this.heartbeats = Executors.newSingleThreadScheduledExecutor(named("headroom-queue-heartbeat"));
        this.maintenance = Executors.newSingleThreadScheduledExecutor(named("headroom-queue-maintenance"));
        MeterRegistry r = registry;
        if (r != null) {
            for (Slots s : queues.values()) {
                meters.add(Gauge.builder("headroom.queue.busy", s, x -> x.concurrency - x.running.availablePermits())
                        .tag("queue", s.queue)
                        .description("jobs of the queue running in this worker")
                        .register(r));
                for (String state : List.of("ready", "scheduled", "running")) {
                    meters.add(Gauge.builder("headroom.queue.depth", s, x -> switch (state) {
                                case "ready" -> x.stats.ready();
                                case "scheduled" -> x.stats.scheduled();
                                default -> x.stats.running();
                            })
                            .tag("queue", s.queue)
                            .tag("state", state)
                            .description("jobs of the queue in the store, by state (refreshed every statsInterval)")
                            .register(r));
                }
                meters.add(Gauge.builder(
                                "headroom.queue.oldest.age",
                                s,
                                x -> x.stats.oldestReadyAge().toNanos() / 1e9)
                        .tag("queue", s.queue)
                        .baseUnit("seconds")
                        .description("how long the oldest ready job of the queue has waited")
                        .register(r));
            }
            notificationsMissing = Counter.builder("headroom.queue.notifications.missing")
                    .description("probe NOTIFYs that did not come back: workers rely on polling")
                    .register(r);
            meters.add(notificationsMissing);
        } else {
            notificationsMissing = null;
        }
    }

    /**
     * Returns a builder of a worker over a queue.
     *
     * @param queue the queue whose store holds the jobs
     * @return a new builder
     */
    public static Builder builder(JobQueue queue) {
        return new Builder(Objects.requireNonNull(queue, "queue"));
    }

    /**
     * Starts claiming: subscribes to the store's wakeups, and starts one claiming thread per queue,
     * the heartbeats and the completer.
     *
     * @return this worker
     * @throws IllegalStateException if already started or shut down
     */
    public JobWorker start() {
        if (!state.compareAndSet(0, 1)) {
            throw new IllegalStateException("worker already started or shut down");
        }
        claiming = true;
        subscription = queue.store().subscribe(new JobWakeups() {
            @Override
            public void jobsAvailable(String name) {
                Slots s = queues.get(name);
                if (s != null) {
                    s.wake();
                }
            }

            @Override
            public void notificationsMissing(String why) {
                Counter c = notificationsMissing;
                if (c != null) {
                    c.increment();
                }
            }
        });
        completer.start();
        long every = Math.max(1, lease.toMillis() / 3);
        heartbeats.scheduleWithFixedDelay(this::heartbeat, every, every, TimeUnit.MILLISECONDS);
        if (registry != null) {
            var unused = maintenance.scheduleWithFixedDelay(
                    this::refreshStats, 0, statsInterval.toMillis(), TimeUnit.MILLISECONDS);
        }
        if (idempotencyWindow != null) {
            var unused = maintenance.scheduleWithFixedDelay(this::purgeKeys, 1, 60, TimeUnit.SECONDS);
        }
        for (Slots s : queues.values()) {
            Thread t = named("headroom-queue-claim-" + s.queue).newThread(() -> claimLoop(s));
            dispatchers.add(t);
            t.start();
        }
        return this;
    }

    private void claimLoop(Slots s) {
        while (claiming) {
            try {
                s.free.acquire();
                int n = 1;
                while (n < batchSize && s.free.tryAcquire()) {
                    n++;
                }
                Bucket rate = s.rate;
                if (rate != null) {
                    int allowed = (int) rate.tryConsumeAsMuchAsPossible(n);
                    if (allowed < n) {
                        s.free.release(n - allowed);
                    }
                    if (allowed == 0) {
                        long wait = rate.estimateAbilityToConsume(1).getNanosToWaitForRefill();
                        s.wakeup.tryAcquire(Math.max(wait, 1_000_000L), TimeUnit.NANOSECONDS);
                        continue;
                    }
                    n = allowed;
                }
                List<ClaimedJob> jobs;
                try {
                    jobs = queue.claim(s.queue, n, lease);
                } catch (RuntimeException e) {
                    s.free.release(n);
                    refund(rate, n);
                    claimError(s.queue, e);
                    waitForWork(s);
                    continue;
                }
                if (jobs.size() < n) {
                    s.free.release(n - jobs.size());
                    refund(rate, n - jobs.size());
                }
                for (ClaimedJob job : jobs) {
                    Running r = new Running(job, s);
                    inFlight.add(r);
                    s.ready.add(r);
                }
                startReady(s);
                if (jobs.size() < n) {
                    waitForWork(s);
                }
            } catch (InterruptedException e) {
                return; // shutdown
            }
        }
    }

    private static void refund(@Nullable Bucket rate, int n) {
        if (rate != null && n > 0) {
            rate.addTokens(n);
        }
    }

    /** Until a wakeup or the poll interval; wakeups that came meanwhile are used up. */
    private void waitForWork(Slots s) throws InterruptedException {
        s.wakeup.tryAcquire(pollNanos, TimeUnit.NANOSECONDS);
        s.wakeup.drainPermits();
    }

    private void claimError(String name, RuntimeException e) {
        log.warn("queue '{}': claim failed ({}); trying again at the next poll", name, e.toString());
        MeterRegistry r = registry;
        if (r != null) {
            claimErrors
                    .computeIfAbsent(
                            name,
                            q -> register(Counter.builder("headroom.queue.claim.errors")
                                    .tag("queue", q)
                                    .register(r)))
                    .increment();
        }
    }

    /**
     * Starts ready jobs while running slots are free. Called by the claimer after adding jobs and
     * by every job that ends after freeing its slot, so a job added while all slots were taken is
     * started by whichever of them comes last.
     */
    private void startReady(Slots s) {
        while (!s.ready.isEmpty() && s.running.tryAcquire()) {
            Running r = s.ready.poll();
            if (r == null) {
                s.running.release();
                continue;
            }
            try {
                executor.execute(() -> run(r));
            } catch (RejectedExecutionException e) {
                s.running.release();
                log.warn("queue '{}': executor refused job {}; giving it back", r.job.queue(), r.job.id());
                if (r.giveBack()) {
                    giveBack(r);
                }
            }
        }
    }

    private void giveBack(Running r) {
        try {
            queue.release(r.job);
        } catch (RuntimeException e) {
            log.warn(
                    "queue '{}': could not give back job {} (its lease will expire): {}",
                    r.job.queue(),
                    r.job.id(),
                    e.toString());
        } finally {
            r.slots.free.release();
            done(r);
        }
    }

    private void done(Running r) {
        inFlight.remove(r);
        if (inFlight.isEmpty()) {
            synchronized (idle) {
                idle.notifyAll();
            }
        }
    }

    /** Runs a job; the caller holds a running slot for it, which this gives back. */
    private void run(Running r) {
        if (!r.start()) {
            r.slots.running.release();
            startReady(r.slots);
            return; // given back by a shutdown before it started
        }
        ClaimedJob job = r.job;
        boolean completing = false;
        long started = System.nanoTime();
        String outcome = "failure";
        try {
            if (job.attempt() == 1) {
                recordLatency(job);
            }
            Registered<?> h = handlers.get(job.type());
            if (h == null) {
                queue.failPermanently(job, "no handler for job type '" + job.type() + "' in worker " + queue.worker());
                outcome = "rejected";
                return;
            }
            Ran ran = execute(r, h);
            completing = ran == Ran.TO_COMPLETE;
            outcome = ran == Ran.UNDECODABLE ? "rejected" : "success";
        } catch (Throwable e) { // Errors too (an AssertionError, a StackOverflowError): recorded, retried
            r.finishing = true;
            fail(job, e);
            if (isFatal(e)) {
                throw (Error) e;
            }
        } finally {
            recordExecution(job.queue(), outcome, System.nanoTime() - started);
            r.slots.running.release();
            r.slots.free.release();
            startReady(r.slots);
            if (completing) {
                r.finishing = true;
                toComplete.add(r);
            } else {
                done(r);
            }
        }
    }

    /** How a handler's run ended, when it did not throw. */
    private enum Ran {
        /** A plain handler returned: the completer completes the job. */
        TO_COMPLETE,
        /** A transactional handler's transaction ended (committed with the completion, or rolled back as stale). */
        FINISHED,
        /** The payload could not be decoded: dead-lettered. */
        UNDECODABLE
    }

    private <T> Ran execute(Running r, Registered<T> h) throws Exception {
        ClaimedJob job = r.job;
        T payload;
        try {
            payload = h.codec().decode(job.payload());
        } catch (RuntimeException | StackOverflowError | LinkageError e) {
            queue.failPermanently(job, "undecodable payload for job type '" + job.type() + "': " + e);
            return Ran.UNDECODABLE;
        }
        if (!h.transactional()) {
            h.handler().handle(payload, new JobContext(job, null, r));
            return Ran.TO_COMPLETE;
        }
        TransactionalJobStore store = (TransactionalJobStore) queue.store();
        try (Connection c = store.connection()) {
            c.setAutoCommit(false);
            boolean ended = false;
            try {
                h.handler().handle(payload, new JobContext(job, HandlerConnection.of(c), r));
                r.finishing = true;
                if (queue.completeIn(c, job)) {
                    c.commit();
                    ended = true;
                    queue.committed(job);
                } else {
                    c.rollback(); // stale lease: the job is another worker's now, and so are its effects
                    ended = true;
                }
            } finally {
                // Whatever the handler threw (an Error too), its writes are rolled back before
                // auto-commit is restored: restoring it on an open transaction would commit them.
                // If the rollback fails, auto-commit is left off: closing the connection (pool or
                // server) then discards the transaction.
                if (ended || rollback(c)) {
                    restoreAutoCommit(c);
                }
            }
        }
        return Ran.FINISHED;
    }

    /** Rolls back; false if that failed (the connection is then left as it is, to be discarded). */
    private static boolean rollback(Connection c) {
        try {
            c.rollback();
            return true;
        } catch (SQLException e) {
            log.debug("could not roll back a failed transactional handler's transaction", e);
            return false;
        }
    }

    /** Errors after which nothing should go on as usual: rethrown once the failure is recorded. */
    private static boolean isFatal(Throwable t) {
        return t instanceof VirtualMachineError && !(t instanceof StackOverflowError);
    }

    private static void restoreAutoCommit(Connection c) {
        try {
            c.setAutoCommit(true);
        } catch (SQLException e) {
            log.debug("could not restore auto-commit on a handler's connection", e);
        }
    }

    private void fail(ClaimedJob job, Throwable e) {
        try {
            FailOutcome outcome = queue.fail(job, e);
            log.debug(
                    "queue '{}': job {} attempt {} failed: {} -> {}", job.queue(), job.id(), job.attempt(), e, outcome);
        } catch (RuntimeException storeDown) {
            log.warn(
                    "queue '{}': could not record the failure of job {} (its lease will expire and it runs again): {}",
                    job.queue(),
                    job.id(),
                    storeDown.toString());
        }
    }

    private void completeLoop() {
        List<Running> batch = new ArrayList<>();
        while (!stopped || !toComplete.isEmpty()) {
            try {
                Running first = toComplete.poll(100, TimeUnit.MILLISECONDS);
                if (first == null) {
                    continue;
                }
                batch.add(first);
                toComplete.drainTo(batch, 999);
                completeBatch(batch);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } finally {
                batch.forEach(this::done);
                batch.clear();
            }
        }
    }

    private void completeBatch(List<Running> batch) {
        List<ClaimedJob> jobs = new ArrayList<>(batch.size());
        for (Running r : batch) {
            jobs.add(r.job);
        }
        try {
            queue.completeAll(jobs);
        } catch (RuntimeException e) {
            log.warn(
                    "could not complete {} finished jobs (their leases will expire and they run again): {}",
                    jobs.size(),
                    e.toString());
        }
    }

    private void heartbeat() {
        for (Running r : inFlight) {
            if (r.leaseLost || r.finishing) {
                continue;
            }
            try {
                if (queue.heartbeat(r.job, lease).isEmpty() && !r.finishing) {
                    r.leaseLost = true;
                    log.warn(
                            "queue '{}': job {} lost its lease (it ran past its expiry and was claimed again)",
                            r.job.queue(),
                            r.job.id());
                }
            } catch (RuntimeException e) {
                log.warn("queue '{}': heartbeat of job {} failed: {}", r.job.queue(), r.job.id(), e.toString());
            }
        }
    }

    private void refreshStats() {
        for (Slots s : queues.values()) {
            try {
                s.stats = queue.store().stats(s.queue);
            } catch (RuntimeException e) {
                log.debug("queue '{}': stats not refreshed", s.queue, e);
            }
        }
    }

    /** Frees expired idempotency keys, in batches of 10,000, until a batch comes back short. */
    private void purgeKeys() {
        Duration window = Objects.requireNonNull(idempotencyWindow);
        try {
            int freed;
            long total = 0;
            do {
                freed = queue.store().purgeKeys(window, 10_000);
                total += freed;
            } while (freed == 10_000 && claiming);
            if (total > 0) {
                log.debug("freed {} idempotency keys older than {}", total, window);
            }
        } catch (RuntimeException e) {
            log.warn("idempotency key retention failed (trying again in a minute): {}", e.toString());
        }
    }

    /**
     * Stops claiming, gives back the jobs that were claimed but have not started, and waits up to
     * {@code timeout} for running jobs to finish and be completed. Jobs still running after it keep
     * running but are no longer heartbeated: their leases expire and other workers run them again.
     *
     * @param timeout how long to wait for running jobs
     * @return true if every job finished within the timeout
     */
    public boolean shutdown(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (state.getAndSet(2) == 2) {
            return inFlight.isEmpty();
        }
        claiming = false;
        closeSubscription();
        for (Thread t : dispatchers) {
            t.interrupt();
        }
        for (Thread t : dispatchers) {
            joinQuietly(t);
        }
        for (Running r : inFlight) {
            if (r.giveBack()) {
                giveBack(r);
            }
        }
        boolean finished = awaitIdle(timeout);
        stopped = true;
        if (completer.isAlive()) {
            joinQuietly(completer);
        }
        heartbeats.shutdownNow();
        maintenance.shutdownNow();
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
        }
        if (!finished) {
            log.warn(
                    "worker shut down with {} jobs still running; their leases will expire and they run again",
                    inFlight.size());
        }
        MeterRegistry r = registry;
        if (r != null) {
            meters.forEach(r::remove);
        }
        return finished;
    }

    /** Shuts down, waiting up to 30 s for running jobs. */
    @Override
    public void close() {
        shutdown(Duration.ofSeconds(30));
    }

    private boolean awaitIdle(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (idle) {
            while (!inFlight.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(idle, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return true;
    }

    private void closeSubscription() {
        AutoCloseable s = subscription;
        if (s != null) {
            try {
                s.close();
            } catch (Exception e) {
                log.debug("closing the wakeup subscription failed", e);
            }
        }
    }

    private static void joinQuietly(Thread t) {
        try {
            t.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void recordLatency(ClaimedJob job) {
        MeterRegistry r = registry;
        if (r == null) {
            return;
        }
        Duration waited = Duration.between(job.dueAt(), Instant.now());
        latency.computeIfAbsent(
                        job.queue(),
                        q -> register(Timer.builder("headroom.queue.latency")
                                .tag("queue", q)
                                .description("from when a job became due to when its first attempt started")
                                .publishPercentiles(0.5, 0.99)
                                .register(r)))
                .record(waited.isNegative() ? Duration.ZERO : waited);
    }

    private void recordExecution(String name, String outcome, long nanos) {
        MeterRegistry r = registry;
        if (r == null) {
            return;
        }
        executions
                .computeIfAbsent(
                        List.of(name, outcome),
                        k -> register(Timer.builder("headroom.queue.execution")
                                .tag("queue", name)
                                .tag("outcome", outcome)
                                .description(
                                        "handler runs: success, failure (threw), rejected (unknown type, undecodable)")
                                .register(r)))
                .record(nanos, TimeUnit.NANOSECONDS);
    }

    private <M extends Meter> M register(M meter) {
        synchronized (meters) {
            meters.add(meter);
        }
        return meter;
    }

    private static ThreadFactory named(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return runnable -> {
            Thread t = new Thread(runnable, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Builds a {@link JobWorker}; each setter checks its argument. Not thread-safe. */
    public static final class Builder {
        private final JobQueue queue;
        private final Map<String, Registered<?>> handlers = new LinkedHashMap<>();
        private final Map<String, Integer> concurrency = new LinkedHashMap<>();
        private final Map<String, Integer> rates = new LinkedHashMap<>();
        private @Nullable Executor executor;
        private Duration lease = Duration.ofSeconds(30);
        private Duration pollInterval = Duration.ofSeconds(1);
        private int batchSize = 32;
        private int prefetch;
        private Duration statsInterval = Duration.ofSeconds(10);
        private @Nullable Duration idempotencyWindow;
        private @Nullable MeterRegistry registry;

        private Builder(JobQueue queue) {
            this.queue = queue;
        }

        /**
         * Registers the handler of a job type: its writes are its own (at-least-once effects).
         *
         * @param type the job type
         * @param codec decodes the payload; a payload it refuses dead-letters the job at once
         * @param handler runs each attempt
         * @param <T> the payload type
         * @return this builder
         * @throws IllegalArgumentException if the type already has a handler
         */
        public <T> Builder handler(String type, Codec<T> codec, Handler<T> handler) {
            return register(type, codec, handler, false);
        }

        /**
         * Registers a handler whose database writes, made through {@link JobContext#connection()},
         * commit in one transaction with its job's completion (exactly-once effects on the queue's
         * database). Needs a {@link TransactionalJobStore}.
         *
         * @param type the job type
         * @param codec decodes the payload
         * @param handler runs each attempt
         * @param <T> the payload type
         * @return this builder
         * @throws IllegalArgumentException if the type already has a handler
         * @throws IllegalStateException if the queue's store is not transactional
         */
        public <T> Builder transactionalHandler(String type, Codec<T> codec, Handler<T> handler) {
            if (!(queue.store() instanceof TransactionalJobStore)) {
                throw new IllegalStateException("transactionalHandler('" + type + "') needs a TransactionalJobStore"
                        + " (such as PostgresJobStore); this queue's store is "
                        + queue.store().getClass().getName());
            }
            return register(type, codec, handler, true);
        }

        private <T> Builder register(String type, Codec<T> codec, Handler<T> handler, boolean transactional) {
            NewJob.checkName("type", type);
            Objects.requireNonNull(codec, "codec");
            Objects.requireNonNull(handler, "handler");
            if (handlers.containsKey(type)) {
                throw new IllegalArgumentException("job type '" + type + "' already has a handler");
            }
            handlers.put(type, new Registered<>(codec, handler, transactional));
            return this;
        }

        /**
         * Consumes a queue, running at most {@code concurrency} of its jobs at once.
         *
         * @param name the queue
         * @param concurrency at least 1
         * @return this builder
         */
        public Builder queue(String name, int concurrency) {
            NewJob.checkName("queue", name);
            if (concurrency < 1) {
                throw new IllegalArgumentException(
                        "concurrency of queue '" + name + "' must be >= 1, got " + concurrency);
            }
            this.concurrency.put(name, concurrency);
            return this;
        }

        /**
         * Starts at most {@code jobsPerSecond} jobs of a queue per second in this worker (a token
         * bucket of that capacity): consumption paced to protect a downstream service.
         *
         * @param name a queue given to {@link #queue}
         * @param jobsPerSecond at least 1
         * @return this builder
         */
        public Builder rateLimit(String name, int jobsPerSecond) {
            NewJob.checkName("queue", name);
            if (jobsPerSecond < 1) {
                throw new IllegalArgumentException(
                        "rate limit of queue '" + name + "' must be >= 1 job/s, got " + jobsPerSecond);
            }
            rates.put(name, jobsPerSecond);
            return this;
        }

        /**
         * Sets where handlers run, such as {@code Executors.newVirtualThreadPerTaskExecutor()}; the
         * caller shuts it down. Default: a pool of as many platform threads as the queues' total
         * concurrency, shut down with the worker.
         *
         * @param executor the executor
         * @return this builder
         */
        public Builder executor(Executor executor) {
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Sets the lease of each claimed job, renewed every third of it while the job runs. Default 30 s.
         * A worker that dies holds its jobs this long before another runs them.
         *
         * @param lease at least 1 s
         * @return this builder
         */
        public Builder lease(Duration lease) {
            Objects.requireNonNull(lease, "lease");
            if (lease.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("lease must be at least 1 s, got " + lease);
            }
            this.lease = lease;
            return this;
        }

        /**
         * Sets how often an idle queue is polled when no notification wakes it: the bound on the
         * pickup delay when notifications do not arrive. Default 1 s.
         *
         * @param pollInterval positive
         * @return this builder
         */
        public Builder pollInterval(Duration pollInterval) {
            Objects.requireNonNull(pollInterval, "pollInterval");
            if (pollInterval.isNegative() || pollInterval.isZero()) {
                throw new IllegalArgumentException("pollInterval must be positive, got " + pollInterval);
            }
            this.pollInterval = pollInterval;
            return this;
        }

        /**
         * Lets each queue hold up to {@code prefetch} claimed jobs beyond its concurrency, waiting in
         * this worker for a running slot: claims then take bigger batches (fewer round trips and
         * commits per job), at the cost of jobs waiting here while another worker may be idle (their
         * leases are renewed meanwhile; shutdown gives them back). For short jobs. Default 0.
         *
         * @param prefetch zero or more
         * @return this builder
         */
        public Builder prefetch(int prefetch) {
            if (prefetch < 0) {
                throw new IllegalArgumentException("prefetch must be >= 0, got " + prefetch);
            }
            this.prefetch = prefetch;
            return this;
        }

        /**
         * Sets the most jobs one claim takes (never more than the queue's free slots). Default 32.
         *
         * @param batchSize at least 1
         * @return this builder
         */
        public Builder batchSize(int batchSize) {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        /**
         * Sets how often the depth and oldest-age gauges are refreshed (one count query per queue,
         * only with a meter registry). Default 10 s.
         *
         * @param statsInterval at least 1 s
         * @return this builder
         */
        public Builder statsInterval(Duration statsInterval) {
            Objects.requireNonNull(statsInterval, "statsInterval");
            if (statsInterval.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("statsInterval must be at least 1 s, got " + statsInterval);
            }
            this.statsInterval = statsInterval;
            return this;
        }

        /**
         * Frees idempotency keys older than {@code window} whose jobs are finished, once a minute
         * (in batches, no long transaction): a duplicate enqueue inside the window returns the
         * existing job, one after it creates a new job. Default: keys are kept forever. Any number of
         * workers may run it. Keep it longer than any retry of an enqueue, and longer than a
         * recurring schedule's period.
         *
         * @param window at least 1 minute
         * @return this builder
         */
        public Builder idempotencyWindow(Duration window) {
            Objects.requireNonNull(window, "window");
            if (window.compareTo(Duration.ofMinutes(1)) < 0) {
                throw new IllegalArgumentException("idempotencyWindow must be at least 1 minute, got " + window);
            }
            this.idempotencyWindow = window;
            return this;
        }

        /**
         * Sets where the worker's metrics go. Default: none.
         *
         * @param registry the registry
         * @return this builder
         */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "meterRegistry");
            return this;
        }

        /**
         * Builds the worker, not started.
         *
         * @return the worker
         * @throws IllegalStateException if no queue or no handler was given, or a rate limit names a
         *     queue not consumed
         */
        public JobWorker build() {
            if (concurrency.isEmpty()) {
                throw new IllegalStateException("no queue to consume: call queue(name, concurrency)");
            }
            if (handlers.isEmpty()) {
                throw new IllegalStateException("no handler: call handler(type, codec, handler)");
            }
            for (String name : rates.keySet()) {
                if (!concurrency.containsKey(name)) {
                    throw new IllegalStateException("rateLimit names queue '" + name + "', which is not consumed");
                }
            }
            return new JobWorker(this);
        }
    }
}
