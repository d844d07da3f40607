package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The conformance suite every {@link JobStore} passes. A subclass supplies a fresh, empty store per
 * test and a way to let the store's clock move on.
 */
abstract class JobStoreContract {

    static final String QUEUE = "contract";
    static final Duration LONG_LEASE = Duration.ofMinutes(10);

    /** Returns the store under test, fresh and empty for each test. */
    protected abstract JobStore store();

    /** Returns once the store's clock has moved on by at least {@code d}. */
    protected abstract void elapse(Duration d);

    /** Returns the store's current time. */
    protected abstract Instant storeNow();

    /** A lease or retry delay short enough to wait out, long enough not to pass by accident. */
    protected abstract Duration shortDelay();

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static NewJob job(String type, String payload) {
        return new NewJob(type, bytes(payload), QUEUE, 0, null, 5, null);
    }

    static NewJob keyed(String key, String payload) {
        return new NewJob("t", bytes(payload), QUEUE, 0, null, 5, key);
    }

    static NewJob attempts(String type, int maxAttempts) {
        return new NewJob(type, bytes(type), QUEUE, 0, null, maxAttempts, null);
    }

    private List<ClaimedJob> claimAll(String worker) {
        return store().claim(QUEUE, 1000, LONG_LEASE, worker);
    }

    @Test
    void sixteenThreadsEnqueueingOneKeyCreateExactlyOneJob() throws Exception {
        int threads = 16;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int round = 0; round < 20; round++) {
                String key = "order-" + round;
                CountDownLatch start = new CountDownLatch(1);
                List<Future<EnqueueResult>> results = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    results.add(pool.submit(() -> {
                        start.await();
                        return store().enqueue(keyed(key, "same"));
                    }));
                }
                start.countDown();
                Set<JobId> ids = new HashSet<>();
                int created = 0;
                for (Future<EnqueueResult> f : results) {
                    EnqueueResult r = f.get(30, TimeUnit.SECONDS);
                    ids.add(r.id());
                    created += r.created() ? 1 : 0;
                    if (!r.created()) {
                        assertThat(r.outcome()).isEqualTo(EnqueueResult.Outcome.DUPLICATE);
                    }
                }
                assertThat(ids).as("round %d", round).hasSize(1);
                assertThat(created).as("round %d", round).isEqualTo(1);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(claimAll("w")).hasSize(20);
    }

    @Test
    void aDuplicateKeyWithAnotherPayloadReturnsTheExistingJobAndSaysSo() {
        EnqueueResult first = store().enqueue(keyed("k", "one"));
        EnqueueResult again = store().enqueue(keyed("k", "one"));
        EnqueueResult other = store().enqueue(keyed("k", "two"));
        assertThat(first.created()).isTrue();
        assertThat(again.outcome()).isEqualTo(EnqueueResult.Outcome.DUPLICATE);
        assertThat(other.outcome()).isEqualTo(EnqueueResult.Outcome.DUPLICATE_DIFFERENT_PAYLOAD);
        assertThat(again.id()).isEqualTo(first.id());
        assertThat(other.id()).isEqualTo(first.id());
        List<ClaimedJob> claimed = claimAll("w");
        assertThat(claimed)
                .singleElement()
                .satisfies(j -> assertThat(j.payload()).isEqualTo(bytes("one")));
    }

    @Test
    void aKeyStaysTakenAfterItsJobCompletes() {
        JobId id = store().enqueue(keyed("k", "p")).id();
        ClaimedJob j = claimAll("w").get(0);
        assertThat(store().complete(j.id(), j.lease())).isTrue();
        EnqueueResult again = store().enqueue(keyed("k", "p"));
        assertThat(again.created()).isFalse();
        assertThat(again.id()).isEqualTo(id);
        assertThat(claimAll("w")).isEmpty();
    }

    @Test
    void aClaimIssuesALeaseTokenCountsTheAttemptAndHidesTheJobFromOtherClaimers() {
        JobId id = store().enqueue(new NewJob("send", bytes("x"), QUEUE, 0, null, 3, "key-1"))
                .id();
        Instant before = storeNow();
        List<ClaimedJob> claimed = store().claim(QUEUE, 10, LONG_LEASE, "worker-a");
        assertThat(claimed).singleElement().satisfies(j -> {
            assertThat(j.id()).isEqualTo(id);
            assertThat(j.type()).isEqualTo("send");
            assertThat(j.queue()).isEqualTo(QUEUE);
            assertThat(j.payload()).isEqualTo(bytes("x"));
            assertThat(j.attempt()).isEqualTo(1);
            assertThat(j.maxAttempts()).isEqualTo(3);
            assertThat(j.idempotencyKey()).isEqualTo("key-1");
            assertThat(j.leaseExpiresAt()).isAfter(before.plus(LONG_LEASE).minusSeconds(5));
        });
        assertThat(store().claim(QUEUE, 10, LONG_LEASE, "worker-b")).isEmpty();
        assertThat(store().claim("other-queue", 10, LONG_LEASE, "worker-b")).isEmpty();
    }

    @Test
    void concurrentClaimersNeverGetTheSameJob() throws Exception {
        for (int i = 0; i < 200; i++) {
            store().enqueue(job("t", "p" + i));
        }
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        Set<JobId> seen = ConcurrentHashMap.newKeySet();
        List<JobId> all = java.util.Collections.synchronizedList(new ArrayList<>());
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String worker = "w" + t;
                done.add(pool.submit(() -> {
                    start.await();
                    List<ClaimedJob> batch;
                    while (!(batch = store().claim(QUEUE, 7, LONG_LEASE, worker)).isEmpty()) {
                        assertThat(batch).as("a batch never exceeds its limit").hasSizeLessThanOrEqualTo(7);
                        for (ClaimedJob j : batch) {
                            seen.add(j.id());
                            all.add(j.id());
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(all).hasSize(200);
        assertThat(seen).hasSize(200);
    }

    @Test
    void lowerPriorityNumbersAndEarlierRunAtAreClaimedFirstAndFutureJobsWait() {
        JobId late = store().enqueue(new NewJob("t", bytes("late"), QUEUE, 5, null, 5, null))
                .id();
        JobId urgent = store().enqueue(new NewJob("t", bytes("urgent"), QUEUE, -1, null, 5, null))
                .id();
        JobId future = store().enqueue(
                        new NewJob("t", bytes("future"), QUEUE, -9, storeNow().plus(shortDelay()), 5, null))
                .id();
        assertThat(store().claim(QUEUE, 1, LONG_LEASE, "w"))
                .extracting(ClaimedJob::id)
                .containsExactly(urgent);
        assertThat(store().claim(QUEUE, 5, LONG_LEASE, "w"))
                .extracting(ClaimedJob::id)
                .containsExactly(late);
        elapse(shortDelay());
        assertThat(store().claim(QUEUE, 5, LONG_LEASE, "w"))
                .extracting(ClaimedJob::id)
                .containsExactly(future);
    }

    @Test
    void anExpiredLeaseIsReclaimedWithANewTokenAndTheOldTokenIsRefused() {
        store().enqueue(job("t", "p"));
        ClaimedJob first = store().claim(QUEUE, 1, shortDelay(), "worker-a").get(0);
        assertThat(store().claim(QUEUE, 1, LONG_LEASE, "worker-b")).isEmpty();
        elapse(shortDelay().multipliedBy(2));
        ClaimedJob second = store().claim(QUEUE, 1, LONG_LEASE, "worker-b").get(0);
        assertThat(second.id()).isEqualTo(first.id());
        assertThat(second.attempt()).isEqualTo(2);
        assertThat(second.lease()).isNotEqualTo(first.lease());

        assertThat(store().complete(first.id(), first.lease())).isFalse();
        assertThat(store().fail(first.id(), first.lease(), "late", "worker-a", Duration.ZERO))
                .isEqualTo(FailOutcome.STALE_LEASE);
        assertThat(store().heartbeat(first.id(), first.lease(), LONG_LEASE)).isEmpty();
        assertThat(store().list(DeadLetterFilter.all(), 10)).isEmpty();

        assertThat(store().complete(second.id(), second.lease())).isTrue();
        assertThat(store().complete(second.id(), second.lease()))
                .as("a second completion")
                .isFalse();
        assertThat(claimAll("w")).isEmpty();
    }

    @Test
    void anExpiredButUnclaimedLeaseCanStillComplete() {
        store().enqueue(job("t", "p"));
        ClaimedJob j = store().claim(QUEUE, 1, shortDelay(), "worker-a").get(0);
        elapse(shortDelay().multipliedBy(2));
        assertThat(store().complete(j.id(), j.lease())).isTrue();
        assertThat(claimAll("w")).isEmpty();
    }

    @Test
    void aHeartbeatKeepsTheLeaseAlive() {
        store().enqueue(job("t", "p"));
        ClaimedJob j = store().claim(QUEUE, 1, shortDelay(), "worker-a").get(0);
        assertThat(store().heartbeat(j.id(), j.lease(), LONG_LEASE))
                .hasValueSatisfying(expiry -> assertThat(expiry).isAfter(j.leaseExpiresAt()));
        elapse(shortDelay().multipliedBy(2));
        assertThat(store().claim(QUEUE, 1, LONG_LEASE, "worker-b")).isEmpty();
        assertThat(store().complete(j.id(), j.lease())).isTrue();
    }

    @Test
    void aFailureIsRetriedAfterItsDelayAndTheLastOneDeadLettersWithTheHistory() {
        JobId id = store().enqueue(attempts("flaky", 3)).id();
        for (int attempt = 1; attempt <= 3; attempt++) {
            List<ClaimedJob> claimed = store().claim(QUEUE, 1, LONG_LEASE, "worker-" + attempt);
            assertThat(claimed).as("attempt %d", attempt).hasSize(1);
            ClaimedJob j = claimed.get(0);
            assertThat(j.attempt()).isEqualTo(attempt);
            FailOutcome outcome = store().fail(j.id(), j.lease(), "boom " + attempt, "worker-" + attempt, shortDelay());
            if (attempt < 3) {
                assertThat(outcome).isEqualTo(FailOutcome.RETRY_SCHEDULED);
                assertThat(store().claim(QUEUE, 1, LONG_LEASE, "w"))
                        .as("before the delay")
                        .isEmpty();
                elapse(shortDelay());
            } else {
                assertThat(outcome).isEqualTo(FailOutcome.DEAD_LETTERED);
            }
        }
        elapse(shortDelay());
        assertThat(claimAll("w")).isEmpty();
        List<DeadLetter> dead = store().list(DeadLetterFilter.all(), 10);
        assertThat(dead).singleElement().satisfies(d -> {
            assertThat(d.id()).isEqualTo(id);
            assertThat(d.type()).isEqualTo("flaky");
            assertThat(d.payload()).isEqualTo(bytes("flaky"));
            assertThat(d.attempts()).isEqualTo(3);
            assertThat(d.errors()).extracting(JobError::attempt).containsExactly(1, 2, 3);
            assertThat(d.errors()).extracting(JobError::message).containsExactly("boom 1", "boom 2", "boom 3");
            assertThat(d.errors()).extracting(JobError::worker).containsExactly("worker-1", "worker-2", "worker-3");
            assertThat(d.errors()).allSatisfy(e -> assertThat(e.failedAt()).isBeforeOrEqualTo(d.deadAt()));
        });
    }

    @Test
    void aFailureWithoutRetryDeadLettersAtOnce() {
        store().enqueue(attempts("poison", 5));
        ClaimedJob j = claimAll("w").get(0);
        assertThat(store().fail(j.id(), j.lease(), "unknown type", "w", null)).isEqualTo(FailOutcome.DEAD_LETTERED);
        assertThat(store().list(DeadLetterFilter.all(), 10))
                .singleElement()
                .satisfies(d -> assertThat(d.attempts()).isEqualTo(1));
    }

    @Test
    void aLeaseThatExpiresOnTheLastAttemptDeadLettersTheJob() {
        store().enqueue(attempts("hung", 1));
        store().claim(QUEUE, 1, shortDelay(), "worker-a");
        elapse(shortDelay().multipliedBy(2));
        ClaimBatch batch = store().claimBatch(QUEUE, 1, LONG_LEASE, "worker-b");
        assertThat(batch.jobs()).isEmpty();
        assertThat(batch.deadLettered()).as("reported, so that it is counted").isEqualTo(1);
        assertThat(store().claimBatch(QUEUE, 1, LONG_LEASE, "worker-b").deadLettered())
                .as("once")
                .isZero();
        assertThat(store().list(DeadLetterFilter.all(), 10)).singleElement().satisfies(d -> {
            assertThat(d.type()).isEqualTo("hung");
            assertThat(d.errors()).singleElement().satisfies(e -> {
                assertThat(e.message()).contains("lease expired");
                assertThat(e.worker()).isEqualTo("worker-a");
            });
        });
    }

    private void killWith(String type, String queue, String error) {
        store().enqueue(new NewJob(type, bytes(type), queue, 0, null, 1, null));
        ClaimedJob j = store().claim(queue, 1, LONG_LEASE, "w").get(0);
        assertThat(store().fail(j.id(), j.lease(), error, "w", Duration.ZERO)).isEqualTo(FailOutcome.DEAD_LETTERED);
    }

    @Test
    void replayByFilterReenqueuesExactlyTheMatchingDeadLetters() {
        killWith("email", QUEUE, "smtp boom");
        killWith("email", QUEUE, "timeout");
        killWith("charge", QUEUE, "smtp boom");
        killWith("email", "other", "smtp boom");
        List<JobId> matching = store()
                .list(DeadLetterFilter.all().withType("email").withQueue(QUEUE).withErrorContaining("boom"), 10)
                .stream()
                .map(DeadLetter::id)
                .toList();
        assertThat(matching).hasSize(1);

        int replayed = store().replay(DeadLetterFilter.all().withType("email").withErrorContaining("boom"));
        assertThat(replayed).isEqualTo(2);
        List<ClaimedJob> here = claimAll("w");
        assertThat(here).extracting(ClaimedJob::id).containsExactlyElementsOf(matching);
        assertThat(here).allSatisfy(j -> assertThat(j.attempt()).isEqualTo(1));
        assertThat(store().claim("other", 10, LONG_LEASE, "w"))
                .singleElement()
                .satisfies(j -> assertThat(j.type()).isEqualTo("email"));
        assertThat(store().list(DeadLetterFilter.all(), 10))
                .extracting(DeadLetter::type, d -> d.errors().get(0).message())
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple("email", "timeout"),
                        org.assertj.core.groups.Tuple.tuple("charge", "smtp boom"));
        assertThat(store().replay(DeadLetterFilter.all().withType("email").withErrorContaining("boom")))
                .as("a second replay")
                .isZero();
    }

    @Test
    void concurrentReplaysOfOneFilterReplayEachDeadLetterOnce() throws Exception {
        for (int i = 0; i < 20; i++) {
            killWith("email", QUEUE, "boom " + i);
        }
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        int total = 0;
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> counts = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                counts.add(pool.submit(() -> {
                    start.await();
                    return store().replay(DeadLetterFilter.all().withType("email"));
                }));
            }
            start.countDown();
            for (Future<Integer> f : counts) {
                total += f.get(30, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(total).isEqualTo(20);
        assertThat(claimAll("w")).hasSize(20).extracting(ClaimedJob::id).doesNotHaveDuplicates();
        assertThat(store().list(DeadLetterFilter.all(), 100)).isEmpty();
    }

    @Test
    void aReplayedJobThatDiesAgainKeepsItsWholeHistory() {
        killWith("email", QUEUE, "first death");
        assertThat(store().replay(DeadLetterFilter.all())).isEqualTo(1);
        ClaimedJob j = claimAll("w").get(0);
        assertThat(store().fail(j.id(), j.lease(), "second death", "w", Duration.ZERO))
                .isEqualTo(FailOutcome.DEAD_LETTERED);
        assertThat(store().list(DeadLetterFilter.all(), 10))
                .singleElement()
                .satisfies(d -> assertThat(d.errors())
                        .extracting(JobError::message)
                        .containsExactly("first death", "second death"));
    }

    @Test
    void purgeRemovesTheMatchingDeadLettersOnly() {
        killWith("email", QUEUE, "a");
        killWith("email", QUEUE, "b");
        killWith("charge", QUEUE, "c");
        assertThat(store().purge(DeadLetterFilter.all().withType("email"))).isEqualTo(2);
        assertThat(store().list(DeadLetterFilter.all(), 10))
                .extracting(DeadLetter::type)
                .containsExactly("charge");
        assertThat(store().replay(DeadLetterFilter.all().withType("email"))).isZero();
        assertThat(claimAll("w")).isEmpty();
    }

    @Test
    void deadLettersFilterByTimeOfDeath() {
        killWith("early", QUEUE, "x");
        elapse(shortDelay());
        Instant between = storeNow();
        elapse(shortDelay());
        killWith("late", QUEUE, "x");
        Instant far = between.plus(Duration.ofDays(1));
        assertThat(store().list(DeadLetterFilter.all().withDeadBetween(between.minus(Duration.ofDays(1)), between), 10))
                .extracting(DeadLetter::type)
                .containsExactly("early");
        assertThat(store().list(DeadLetterFilter.all().withDeadBetween(between, far), 10))
                .extracting(DeadLetter::type)
                .containsExactly("late");
        assertThat(store().list(DeadLetterFilter.all(), 1))
                .extracting(DeadLetter::type)
                .containsExactly("early");
    }

    @Test
    void badInputIsRefusedNamingTheField() {
        assertThatThrownBy(() -> new NewJob(" ", bytes("p"), QUEUE, 0, null, 1, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("type");
        assertThatThrownBy(() -> new NewJob("t", bytes("p"), QUEUE, 0, null, 0, null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxAttempts");
        assertThatThrownBy(() -> store().claim(QUEUE, 0, LONG_LEASE, "w"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("max");
        assertThatThrownBy(() -> store().claim(QUEUE, 1, Duration.ZERO, "w"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lease");
        assertThatThrownBy(() -> store().list(DeadLetterFilter.all(), 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("limit");
    }

    // --- worker support: release, batched completion, wakeups

    @Test
    void aReleasedJobIsAvailableAgainWithItsAttemptUncountedAndTheOldTokenStale() {
        JobId id = store().enqueue(job("t", "p")).id();
        ClaimedJob first = claimAll("w1").get(0);
        assertThat(first.attempt()).isEqualTo(1);
        assertThat(store().release(first.id(), first.lease())).isTrue();
        assertThat(store().release(first.id(), first.lease())).as("twice").isFalse();
        ClaimedJob again = claimAll("w2").get(0);
        assertThat(again.id()).isEqualTo(id);
        assertThat(again.attempt()).as("a release does not count the attempt").isEqualTo(1);
        assertThat(store().complete(first.id(), first.lease())).isFalse();
        assertThat(store().release(first.id(), first.lease())).isFalse();
        assertThat(store().complete(again.id(), again.lease())).isTrue();
    }

    @Test
    void completeAllCompletesTheCurrentLeasesOnlyAndKeepsTheStaleOnesJobs() {
        for (int i = 0; i < 5; i++) {
            store().enqueue(job("t", "p" + i));
        }
        List<ClaimedJob> claimed = claimAll("w");
        ClaimedJob released = claimed.get(0);
        assertThat(store().release(released.id(), released.lease())).isTrue(); // its token is stale now
        Set<JobId> done = store().completeAll(claimed);
        assertThat(done).hasSize(4).doesNotContain(released.id());
        List<ClaimedJob> left = claimAll("w");
        assertThat(left).extracting(ClaimedJob::id).containsExactly(released.id());
        assertThat(store().completeAll(List.of())).isEmpty();
    }

    @Test
    void aSubscriberIsToldOfAnEnqueueOnItsQueue() throws Exception {
        LinkedBlockingQueue<String> told = new LinkedBlockingQueue<>();
        try (AutoCloseable subscription = store().subscribe(told::add)) {
            store().enqueue(job("t", "p"));
            assertThat(told.poll(30, TimeUnit.SECONDS)).isEqualTo(QUEUE);
        }
    }

    @Test
    void enqueueAllEnqueuesEveryJobInOrderResolvingKeysLikeSingleEnqueues() {
        JobId existing = store().enqueue(keyed("taken", "old")).id();
        List<NewJob> batch = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {
            batch.add(job("t", "p" + i));
        }
        batch.add(keyed("taken", "old")); // 1000: the existing job
        batch.add(keyed("fresh", "x")); // 1001: created
        batch.add(keyed("fresh", "x")); // 1002: the job 1001 created
        batch.add(new NewJob("t", bytes("later"), QUEUE, 0, storeNow().plus(Duration.ofDays(1)), 5, null));
        List<EnqueueResult> results = store().enqueueAll(batch);
        assertThat(results).hasSize(batch.size());
        assertThat(results.get(1000).id()).isEqualTo(existing);
        assertThat(results.get(1000).created()).isFalse();
        assertThat(results.get(1001).created()).isTrue();
        assertThat(results.get(1002).id()).isEqualTo(results.get(1001).id());
        assertThat(results.get(1002).created()).isFalse();
        Set<JobId> distinct = new HashSet<>();
        results.forEach(r -> distinct.add(r.id()));
        assertThat(distinct).hasSize(1_000 + 3);
        List<ClaimedJob> claimed = store().claim(QUEUE, 2_000, LONG_LEASE, "w");
        assertThat(claimed).as("all but the one due tomorrow").hasSize(1_000 + 2);
        ClaimedJob first = claimed.stream()
                .filter(j -> j.id().equals(results.get(0).id()))
                .findFirst()
                .orElseThrow();
        assertThat(new String(first.payload(), StandardCharsets.UTF_8)).isEqualTo("p0");
        ClaimedJob last = claimed.stream()
                .filter(j -> j.id().equals(results.get(999).id()))
                .findFirst()
                .orElseThrow();
        assertThat(new String(last.payload(), StandardCharsets.UTF_8)).isEqualTo("p999");
        assertThat(store().enqueueAll(List.of())).isEmpty();
    }

    @Test
    void statsCountReadyScheduledAndRunningJobsAndTheOldestReadyAge() {
        assertThat(store().stats(QUEUE)).isEqualTo(QueueStats.EMPTY);
        for (int i = 0; i < 3; i++) {
            store().enqueue(job("t", "ready" + i));
        }
        store().enqueue(new NewJob("t", bytes("later"), QUEUE, 0, storeNow().plus(Duration.ofDays(1)), 5, null));
        store().enqueue(new NewJob("t", bytes("elsewhere"), "other-queue", 0, null, 5, null));
        store().claim(QUEUE, 1, LONG_LEASE, "w");
        elapse(shortDelay());
        QueueStats stats = store().stats(QUEUE);
        assertThat(stats.ready()).isEqualTo(2);
        assertThat(stats.scheduled()).isEqualTo(1);
        assertThat(stats.running()).isEqualTo(1);
        assertThat(stats.oldestReadyAge()).isGreaterThanOrEqualTo(shortDelay());
    }

    @Test
    void purgeKeysFreesOnlyOldKeysOfFinishedJobs() {
        JobId done = store().enqueue(keyed("done-old", "p")).id();
        store().enqueue(keyed("waiting-old", "p"));
        JobId dying = store().enqueue(new NewJob("t", bytes("p"), QUEUE, 0, null, 1, "dead-old"))
                .id();
        for (ClaimedJob j : claimAll("w")) {
            if (j.id().equals(done)) {
                assertThat(store().complete(j.id(), j.lease())).isTrue();
            } else if (j.id().equals(dying)) {
                store().fail(j.id(), j.lease(), "boom", "w", null);
            } else {
                store().release(j.id(), j.lease());
            }
        }
        elapse(shortDelay().multipliedBy(2));
        JobId young = store().enqueue(keyed("done-young", "p")).id();
        ClaimedJob y = claimAll("w").stream()
                .filter(j -> j.id().equals(young))
                .findFirst()
                .orElseThrow();
        store().complete(y.id(), y.lease());
        assertThat(store().purgeKeys(shortDelay(), 100)).as("only done-old").isEqualTo(1);
        assertThat(store().enqueue(keyed("done-old", "p")).created())
                .as("freed: a new job")
                .isTrue();
        assertThat(store().enqueue(keyed("waiting-old", "p")).created()).isFalse();
        assertThat(store().enqueue(keyed("dead-old", "p")).created())
                .as("a dead job keeps its key")
                .isFalse();
        assertThat(store().enqueue(keyed("done-young", "p")).created())
                .as("inside the window")
                .isFalse();
    }
}
