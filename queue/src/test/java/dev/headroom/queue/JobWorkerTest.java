package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link JobWorker} on the in-memory store: what it runs, how often, how many at once, and how it stops. */
class JobWorkerTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private final InMemoryJobStore store = InMemoryJobStore.create();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final JobQueue queue = JobQueue.builder(store)
            .backoff(Backoff.builder()
                    .base(Duration.ofMillis(1))
                    .cap(Duration.ofMillis(5))
                    .maxAttempts(Integer.MAX_VALUE)
                    .build())
            .meterRegistry(registry)
            .build();
    private final List<JobWorker> workers = new ArrayList<>();

    @AfterEach
    void stop() {
        workers.forEach(w -> w.shutdown(Duration.ofSeconds(5)));
    }

    private JobWorker started(JobWorker.Builder b) {
        JobWorker w = b.meterRegistry(registry).build();
        workers.add(w);
        return w.start();
    }

    private static EnqueueOptions attempts(int n) {
        return EnqueueOptions.builder().maxAttempts(n).build();
    }

    private double counted(String name) {
        return registry.find(name).counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    @Test
    void everyJobRunsExactlyOnceAndNeverMoreAtOnceThanTheConcurrency() {
        runsEachOnceWithinConcurrency(0, null);
    }

    @Test
    void withPrefetchOnVirtualThreadsEveryJobStillRunsOnceAndNeverMoreAtOnceThanTheConcurrency() throws Exception {
        ExecutorService virtual = newVirtualThreadExecutorOrPool();
        try {
            runsEachOnceWithinConcurrency(24, virtual);
        } finally {
            virtual.shutdownNow();
        }
    }

    /** Virtual threads on JDK 21+ (each task its own thread, so only the worker bounds them); a big pool on 17. */
    private static ExecutorService newVirtualThreadExecutorOrPool() throws Exception {
        try {
            return (ExecutorService)
                    Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
        } catch (NoSuchMethodException e) {
            return Executors.newFixedThreadPool(64);
        }
    }

    private void runsEachOnceWithinConcurrency(int prefetch, @Nullable Executor executor) {
        int jobs = 2_000;
        int concurrency = 8;
        Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();
        AtomicInteger running = new AtomicInteger();
        AtomicInteger mostAtOnce = new AtomicInteger();
        for (int i = 0; i < jobs; i++) {
            queue.enqueue("count", "job-" + i, Codec.utf8(), EnqueueOptions.defaults());
        }
        JobWorker.Builder b = JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, concurrency)
                .batchSize(5)
                .prefetch(prefetch);
        if (executor != null) {
            b.executor(executor);
        }
        started(b.handler("count", Codec.utf8(), (payload, ctx) -> {
            int now = running.incrementAndGet();
            mostAtOnce.accumulateAndGet(now, Math::max);
            runs.computeIfAbsent(payload, k -> new AtomicInteger()).incrementAndGet();
            Thread.yield(); // widen the window in which others run alongside
            running.decrementAndGet();
        }));
        await().atMost(TIMEOUT).until(() -> counted("headroom.queue.completed") == jobs);
        assertThat(runs).hasSize(jobs);
        assertThat(runs.values()).allSatisfy(n -> assertThat(n).hasValue(1));
        assertThat(mostAtOnce.get()).isBetween(1, concurrency);
        assertThat(store.claim(EnqueueOptions.DEFAULT_QUEUE, 10, Duration.ofMinutes(1), "check"))
                .isEmpty();
    }

    @Test
    void aFailingHandlerIsRetriedThenDeadLetteredWithItsHistory() {
        AtomicInteger calls = new AtomicInteger();
        queue.enqueue("flaky", "x", Codec.utf8(), attempts(3));
        started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 2)
                .handler("flaky", Codec.utf8(), (payload, ctx) -> {
                    calls.incrementAndGet();
                    throw new IllegalStateException("downstream said no to " + payload);
                }));
        await().atMost(TIMEOUT)
                .until(() ->
                        !queue.deadLetters().list(DeadLetterFilter.all(), 10).isEmpty());
        DeadLetter dead = queue.deadLetters().list(DeadLetterFilter.all(), 10).get(0);
        assertThat(calls).hasValue(3);
        assertThat(dead.errors()).hasSize(3);
        assertThat(dead.errors().get(2).message()).contains("downstream said no to x");
    }

    @Test
    void anUnknownTypeAndAnUndecodablePayloadAreDeadLetteredAtOnceWithoutRetries() {
        AtomicInteger calls = new AtomicInteger();
        queue.enqueue("nobody-handles-this", new byte[] {1}, attempts(5));
        byte[] notUtf8 = {(byte) 0xC3, (byte) 0x28};
        queue.enqueue("text", notUtf8, attempts(5));
        started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 2)
                .handler("text", Codec.utf8(), (payload, ctx) -> calls.incrementAndGet()));
        await().atMost(TIMEOUT)
                .until(() ->
                        queue.deadLetters().list(DeadLetterFilter.all(), 10).size() == 2);
        List<DeadLetter> dead = queue.deadLetters().list(DeadLetterFilter.all(), 10);
        assertThat(dead).allSatisfy(d -> assertThat(d.attempts()).isEqualTo(1));
        assertThat(dead)
                .extracting(d -> d.errors().get(0).message())
                .anySatisfy(m -> assertThat(m).contains("no handler for job type 'nobody-handles-this'"))
                .anySatisfy(m -> assertThat(m).contains("undecodable payload for job type 'text'"));
        assertThat(calls).hasValue(0);
    }

    /**
     * Adversary finding: an {@code Error} from a handler or a codec was neither recorded nor
     * dead-lettered; the job ran again only when its lease expired, and died of that.
     */
    @Test
    void errorsFromHandlersAndCodecsAreRecordedLikeExceptions() {
        queue.enqueue("asserts", "x", Codec.utf8(), attempts(3));
        queue.enqueue("deep", new byte[] {1}, attempts(5));
        Codec<String> overflowing = new Codec<>() {
            @Override
            public byte[] encode(String value) {
                return value.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }

            @Override
            public String decode(byte[] bytes) {
                throw new StackOverflowError("a payload nested too deep for the codec");
            }

            @Override
            public String name() {
                return "overflowing";
            }
        };
        started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 2)
                .handler("asserts", Codec.utf8(), (payload, ctx) -> {
                    throw new AssertionError(
                            "an Error from attempt " + ctx.job().attempt());
                })
                .handler("deep", overflowing, (payload, ctx) -> {}));
        await().atMost(TIMEOUT)
                .until(() ->
                        queue.deadLetters().list(DeadLetterFilter.all(), 10).size() == 2);
        List<DeadLetter> dead = queue.deadLetters().list(DeadLetterFilter.all(), 10);
        DeadLetter asserts = dead.stream()
                .filter(d -> d.type().equals("asserts"))
                .findFirst()
                .orElseThrow();
        DeadLetter deep =
                dead.stream().filter(d -> d.type().equals("deep")).findFirst().orElseThrow();
        assertThat(asserts.errors())
                .extracting(JobError::message)
                .hasSize(3)
                .allSatisfy(m -> assertThat(m).contains("AssertionError: an Error from attempt"));
        assertThat(deep.attempts()).as("dead-lettered at once").isEqualTo(1);
        assertThat(deep.errors().get(0).message()).contains("undecodable payload", "StackOverflowError");
    }

    /**
     * Adversary finding: key retention (and stats) ran on the heartbeat thread, so a long purge
     * stopped heartbeats and a running job's lease expired under it.
     */
    @Test
    void aSlowKeyRetentionRunDoesNotHoldUpHeartbeats() throws Exception {
        AtomicInteger heartbeats = new AtomicInteger();
        CountDownLatch purging = new CountDownLatch(1);
        CountDownLatch releasePurge = new CountDownLatch(1);
        JobStore slowPurge = new ForwardingJobStore(store) {
            @Override
            public java.util.Optional<java.time.Instant> heartbeat(JobId id, LeaseToken token, Duration lease) {
                heartbeats.incrementAndGet();
                return super.heartbeat(id, token, lease);
            }

            @Override
            public int purgeKeys(Duration window, int limit) {
                purging.countDown();
                try {
                    releasePurge.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return 0;
            }
        };
        JobQueue q = JobQueue.builder(slowPurge).build();
        q.enqueue("long", "x", Codec.utf8(), EnqueueOptions.defaults());
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger beatsWhilePurging = new AtomicInteger(-1);
        try {
            started(JobWorker.builder(q)
                    .queue(EnqueueOptions.DEFAULT_QUEUE, 1)
                    .lease(Duration.ofSeconds(1))
                    .idempotencyWindow(Duration.ofMinutes(1))
                    .handler("long", Codec.utf8(), (payload, ctx) -> {
                        purging.await(); // retention is stuck from here on
                        int before = heartbeats.get();
                        await().atMost(Duration.ofSeconds(20)).until(() -> heartbeats.get() >= before + 3);
                        beatsWhilePurging.set(heartbeats.get() - before);
                        done.countDown();
                    }));
            assertThat(done.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            assertThat(beatsWhilePurging.get()).isGreaterThanOrEqualTo(3);
        } finally {
            releasePurge.countDown();
        }
    }

    /**
     * Adversary finding: with prefetch, a busy queue's prefetched jobs each took a thread of the
     * default pool (sized to the total concurrency) to wait for a running slot, and an idle
     * queue's job waited behind them for a thread.
     */
    @Test
    void aBusyQueuesPrefetchedJobsDoNotTakeTheThreadsOfAnotherQueue() throws Exception {
        CountDownLatch slowStarted = new CountDownLatch(1);
        CountDownLatch releaseSlow = new CountDownLatch(1);
        CountDownLatch fastRan = new CountDownLatch(1);
        for (int i = 0; i < 6; i++) {
            queue.enqueue(
                    "slow",
                    "s" + i,
                    Codec.utf8(),
                    EnqueueOptions.builder().queue("busy").build());
        }
        try {
            started(JobWorker.builder(queue)
                    .queue("busy", 1)
                    .queue("idle", 1)
                    .prefetch(5)
                    .handler("slow", Codec.utf8(), (payload, ctx) -> {
                        slowStarted.countDown();
                        releaseSlow.await();
                    })
                    .handler("fast", Codec.utf8(), (payload, ctx) -> fastRan.countDown()));
            assertThat(slowStarted.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            queue.enqueue(
                    "fast",
                    "f",
                    Codec.utf8(),
                    EnqueueOptions.builder().queue("idle").build());
            assertThat(fastRan.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                    .as("the idle queue's job ran while the busy queue's prefetched jobs waited")
                    .isTrue();
        } finally {
            releaseSlow.countDown();
        }
    }

    @Test
    void aWakeupClaimsANewJobWithoutWaitingForThePoll() {
        AtomicInteger claims = new AtomicInteger();
        JobStore counting = new ForwardingJobStore(store) {
            @Override
            public List<ClaimedJob> claim(String q, int max, Duration lease, String worker) {
                List<ClaimedJob> jobs = super.claim(q, max, lease, worker);
                claims.incrementAndGet();
                return jobs;
            }
        };
        JobQueue countingQueue = JobQueue.builder(counting).build();
        CountDownLatch ran = new CountDownLatch(1);
        started(JobWorker.builder(countingQueue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 1)
                .pollInterval(Duration.ofHours(1))
                .handler("t", Codec.utf8(), (payload, ctx) -> ran.countDown()));
        // the first claim found nothing: the worker now waits an hour, or for a wakeup
        await().atMost(TIMEOUT).until(() -> claims.get() == 1);
        countingQueue.enqueue("t", "x", Codec.utf8(), EnqueueOptions.defaults());
        await().atMost(TIMEOUT).until(() -> ran.getCount() == 0);
        assertThat(claims.get())
                .as("the wakeup's claim, and maybe the one after it")
                .isBetween(2, 3);
    }

    @Test
    void shutdownGivesBackJobsThatDidNotStartAndWaitsForThoseRunning() throws Exception {
        List<Runnable> parked = new ArrayList<>();
        Executor neverRuns = task -> {
            synchronized (parked) {
                parked.add(task);
            }
        };
        for (int i = 0; i < 4; i++) {
            queue.enqueue("t", "x" + i, Codec.utf8(), EnqueueOptions.defaults());
        }
        JobWorker w = started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 4)
                .executor(neverRuns)
                .handler("t", Codec.utf8(), (payload, ctx) -> {}));
        await().atMost(TIMEOUT).until(() -> {
            synchronized (parked) {
                return parked.size() == 4;
            }
        });
        assertThat(w.shutdown(Duration.ofSeconds(5))).isTrue();
        assertThat(counted("headroom.queue.released")).isEqualTo(4);
        synchronized (parked) {
            parked.forEach(Runnable::run); // too late: given back, they do nothing
        }
        List<ClaimedJob> again = store.claim(EnqueueOptions.DEFAULT_QUEUE, 10, Duration.ofMinutes(1), "next");
        assertThat(again).hasSize(4).allSatisfy(j -> assertThat(j.attempt()).isEqualTo(1));
        assertThat(counted("headroom.queue.completed")).isZero();
    }

    @Test
    void shutdownWaitsForARunningJobAndCompletesIt() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        queue.enqueue("slow", "x", Codec.utf8(), EnqueueOptions.defaults());
        JobWorker w = started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 1)
                .handler("slow", Codec.utf8(), (payload, ctx) -> {
                    started.countDown();
                    finish.await();
                }));
        assertThat(started.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        FutureTask<Boolean> shutdown = new FutureTask<>(() -> w.shutdown(TIMEOUT));
        Thread stopper = new Thread(shutdown);
        stopper.start();
        // the shutdown is waiting (for the claim thread, then for the running job)
        await().atMost(TIMEOUT).until(() -> stopper.getState() == Thread.State.TIMED_WAITING);
        assertThat(shutdown).isNotDone();
        assertThat(counted("headroom.queue.released"))
                .as("a started job is not given back")
                .isZero();
        finish.countDown();
        assertThat(shutdown.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(counted("headroom.queue.completed")).isEqualTo(1);
    }

    @Test
    void aRateLimitNeverStartsMoreJobsThanItAllows() {
        int perSecond = 20;
        AtomicInteger startedJobs = new AtomicInteger();
        for (int i = 0; i < 200; i++) {
            queue.enqueue("t", "x" + i, Codec.utf8(), EnqueueOptions.defaults());
        }
        long begin = System.nanoTime();
        started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 16)
                .rateLimit(EnqueueOptions.DEFAULT_QUEUE, perSecond)
                .handler("t", Codec.utf8(), (payload, ctx) -> startedJobs.incrementAndGet()));
        await().atMost(TIMEOUT).until(() -> startedJobs.get() >= 60);
        double seconds = (System.nanoTime() - begin) / 1e9;
        // a lower bound on time, never an upper one: a slow machine only starts fewer
        assertThat((double) startedJobs.get())
                .as("started in %.2f s", seconds)
                .isLessThanOrEqualTo(perSecond + perSecond * seconds + 1);
    }

    @Test
    void misconfigurationIsRefusedWithTheFieldNamed() {
        assertThatThrownBy(() -> JobWorker.builder(queue).build()).hasMessageContaining("no queue to consume");
        assertThatThrownBy(() -> JobWorker.builder(queue).queue("q", 1).build()).hasMessageContaining("no handler");
        assertThatThrownBy(() -> JobWorker.builder(queue).queue("q", 0))
                .hasMessageContaining("concurrency of queue 'q' must be >= 1");
        assertThatThrownBy(() -> JobWorker.builder(queue).lease(Duration.ofMillis(10)))
                .hasMessageContaining("lease must be at least 1 s");
        assertThatThrownBy(() -> JobWorker.builder(queue)
                        .handler("t", Codec.utf8(), (p, c) -> {})
                        .handler("t", Codec.utf8(), (p, c) -> {}))
                .hasMessageContaining("job type 't' already has a handler");
        assertThatThrownBy(() -> JobWorker.builder(queue).transactionalHandler("t", Codec.utf8(), (p, c) -> {}))
                .hasMessageContaining("needs a TransactionalJobStore");
        assertThatThrownBy(() -> JobWorker.builder(queue)
                        .queue("q", 1)
                        .rateLimit("other", 5)
                        .handler("t", Codec.utf8(), (p, c) -> {})
                        .build())
                .hasMessageContaining("rateLimit names queue 'other'");
        JobWorker w = JobWorker.builder(queue)
                .queue("q", 1)
                .handler("t", Codec.utf8(), (p, c) -> {})
                .build();
        workers.add(w);
        w.start();
        assertThatThrownBy(w::start).hasMessageContaining("already started");
    }

    @Test
    void depthAndOldestAgeGaugesFollowTheStore() throws Exception {
        CountDownLatch finish = new CountDownLatch(1);
        for (int i = 0; i < 5; i++) {
            queue.enqueue("hold", "x" + i, Codec.utf8(), EnqueueOptions.defaults());
        }
        started(JobWorker.builder(queue)
                .queue(EnqueueOptions.DEFAULT_QUEUE, 2)
                .statsInterval(Duration.ofSeconds(1))
                .handler("hold", Codec.utf8(), (payload, ctx) -> finish.await()));
        await().atMost(TIMEOUT).until(() -> depth("running") == 2 && depth("ready") == 3 && depth("scheduled") == 0);
        assertThat(registry.get("headroom.queue.oldest.age").gauge().value()).isGreaterThanOrEqualTo(0);
        assertThat(registry.get("headroom.queue.busy").gauge().value()).isEqualTo(2);
        finish.countDown();
        await().atMost(TIMEOUT).until(() -> depth("running") == 0 && depth("ready") == 0);
    }

    private double depth(String state) {
        return registry.get("headroom.queue.depth").tag("state", state).gauge().value();
    }
}
