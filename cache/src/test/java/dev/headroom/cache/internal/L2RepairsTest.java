package dev.headroom.cache.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class L2RepairsTest {

    /** A store whose calls the test completes by hand, in the order it likes. */
    private static final class ManualStore implements L2Repairs.Store {
        final Map<String, CompletableFuture<Long>> invalidations = new ConcurrentHashMap<>();
        final List<CompletableFuture<Void>> clears = new ArrayList<>();
        int invalidateCalls;

        @Override
        public synchronized CompletableFuture<Long> invalidate(String key) {
            invalidateCalls++;
            CompletableFuture<Long> call = new CompletableFuture<>();
            invalidations.put(key, call);
            return call;
        }

        @Override
        public synchronized CompletableFuture<Void> clear() {
            CompletableFuture<Void> call = new CompletableFuture<>();
            clears.add(call);
            return call;
        }
    }

    private final ManualStore store = new ManualStore();
    private final Map<String, Long> repaired = new ConcurrentHashMap<>();
    private final AtomicLong cleared = new AtomicLong();

    private CompletableFuture<Void> round(L2Repairs repairs) {
        return repairs.run(store, repaired::put, cleared::incrementAndGet);
    }

    @Test
    void aRepairedKeyLeavesTheSetAndIsReportedWithItsNewVersion() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.keyFailed("k");
        assertThat(repairs.isPending("k")).isTrue();
        assertThat(repairs.isPending("other")).isFalse();

        CompletableFuture<Void> round = round(repairs);
        store.invalidations.get("k").complete(7L);

        assertThat(round).isCompleted();
        assertThat(repaired).containsExactly(Map.entry("k", 7L));
        assertThat(repairs.pending()).isZero();
        assertThat(repairs.isPending("k")).isFalse();
    }

    @Test
    void aFailedRepairStaysPendingForTheNextRound() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.keyFailed("k");
        round(repairs);
        store.invalidations.get("k").completeExceptionally(new IllegalStateException("redis down"));
        assertThat(repairs.isPending("k")).isTrue();

        round(repairs);
        store.invalidations.get("k").complete(2L);
        assertThat(repairs.pending()).isZero();
        assertThat(store.invalidateCalls).isEqualTo(2);
    }

    @Test
    void aKeyThatFailsAgainWhileItsRepairIsInFlightIsNotForgotten() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.keyFailed("k");
        round(repairs);
        repairs.keyFailed("k"); // a newer invalidation failed after the repair was sent
        store.invalidations.get("k").complete(3L);

        assertThat(repairs.isPending("k"))
                .as("the newer failure still needs its own repair")
                .isTrue();
        assertThat(repaired).isEmpty();
        round(repairs);
        store.invalidations.get("k").complete(4L);
        assertThat(repaired).containsExactly(Map.entry("k", 4L));
    }

    @Test
    void roundsDoNotOverlap() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.keyFailed("k");
        CompletableFuture<Void> first = round(repairs);
        CompletableFuture<Void> second = round(repairs);
        assertThat(second).isCompleted();
        assertThat(store.invalidateCalls).isEqualTo(1);
        assertThat(first).isNotDone();
        store.invalidations.get("k").complete(1L);
        assertThat(first).isCompleted();
    }

    @Test
    void aRoundSendsAtMostOneBatch() {
        L2Repairs repairs = new L2Repairs(L2Repairs.BATCH * 2);
        for (int i = 0; i < L2Repairs.BATCH + 5; i++) {
            repairs.keyFailed("k" + i);
        }
        round(repairs);
        assertThat(store.invalidateCalls).isEqualTo(L2Repairs.BATCH);
        store.invalidations.values().forEach(f -> f.complete(1L));
        assertThat(repairs.pending()).isEqualTo(5);
    }

    @Test
    void pastTheLimitAClearIsScheduledInstead() {
        L2Repairs repairs = new L2Repairs(2);
        assertThat(repairs.keyFailed("a")).isTrue();
        assertThat(repairs.keyFailed("b")).isTrue();
        assertThat(repairs.keyFailed("b")).as("a key already kept is no growth").isTrue();
        assertThat(repairs.keyFailed("c")).as("full: a clear instead").isFalse();
        assertThat(repairs.isPending("never-failed"))
                .as("with a clear pending every L2 value may be stale")
                .isTrue();
        round(repairs);
        assertThat(store.invalidateCalls).as("the clear goes first, alone").isZero();
        assertThat(store.clears).hasSize(1);
        store.clears.get(0).complete(null);
        assertThat(cleared).hasValue(1);
        assertThat(repairs.pending()).isZero();
    }

    @Test
    void aClearRemovesTheKeysItCoversOnly() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.keyFailed("a");
        repairs.clearFailed();
        round(repairs);
        repairs.keyFailed("late"); // failed after the clear was sent: the clear may have run before it
        store.clears.get(0).complete(null);

        assertThat(cleared).hasValue(1);
        assertThat(repairs.isPending("a")).isFalse();
        assertThat(repairs.isPending("never-failed")).isFalse();
        assertThat(repairs.isPending("late")).isTrue();
        assertThat(repairs.pending()).isEqualTo(1);
    }

    @Test
    void aClearFailedWhileAnotherWasInFlightIsSentAgain() {
        L2Repairs repairs = new L2Repairs(10);
        repairs.clearFailed();
        round(repairs);
        repairs.clearFailed();
        store.clears.get(0).complete(null);
        assertThat(repairs.pending()).isEqualTo(1);
        round(repairs);
        store.clears.get(1).complete(null);
        assertThat(repairs.pending()).isZero();
        assertThat(cleared).hasValue(2);
    }

    @Test
    void badArgumentsAreRejected() {
        assertThatThrownBy(() -> new L2Repairs(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("limit");
        assertThatThrownBy(() -> new L2Repairs(1).keyFailed(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("key");
    }

    /**
     * 4 threads record failures of 64 keys while rounds run against a store answering on another
     * thread. Invariant: once nothing is pending, each key's last repair call was sent after its
     * last recorded failure began.
     */
    @Test
    void underConcurrentFailuresEveryKeysLastFailureIsFollowedByARepair() throws Exception {
        AtomicLong clock = new AtomicLong();
        Map<String, Long> lastFailure = new ConcurrentHashMap<>();
        Map<String, Long> lastRepairSent = new ConcurrentHashMap<>();
        ExecutorService answerer = Executors.newSingleThreadExecutor();
        ExecutorService failers = Executors.newFixedThreadPool(4);
        L2Repairs repairs = new L2Repairs(1_000);
        L2Repairs.Store async = new L2Repairs.Store() {
            @Override
            public CompletableFuture<Long> invalidate(String key) {
                long sent = clock.incrementAndGet();
                return CompletableFuture.supplyAsync(
                        () -> {
                            if (ThreadLocalRandom.current().nextInt(10) == 0) {
                                throw new IllegalStateException("flaky L2");
                            }
                            return sent;
                        },
                        answerer);
            }

            @Override
            public CompletableFuture<Void> clear() {
                throw new AssertionError("the limit is never reached here");
            }
        };
        try {
            CyclicBarrier start = new CyclicBarrier(4);
            List<Future<?>> work = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                work.add(failers.submit(() -> {
                    start.await();
                    for (int i = 0; i < 5_000; i++) {
                        String key = "k" + ThreadLocalRandom.current().nextInt(64);
                        synchronized (lastFailure) { // the clock tick and the record are one step
                            lastFailure.put(key, clock.incrementAndGet());
                            repairs.keyFailed(key);
                        }
                    }
                    return null;
                }));
            }
            int rounds = 0;
            while (!work.stream().allMatch(Future::isDone) || repairs.pending() > 0) {
                repairs.run(async, lastRepairSent::put, () -> {}).get(30, TimeUnit.SECONDS); // a hang, not a speed
                rounds++;
                assertThat(rounds).as("rounds to drain").isLessThan(1_000_000);
            }
            for (Future<?> f : work) {
                f.get();
            }
            assertThat(lastFailure).hasSize(64);
            lastFailure.forEach((key, failed) -> assertThat(lastRepairSent.get(key))
                    .as("repair of %s sent after its last failure", key)
                    .isGreaterThan(failed));
        } finally {
            failers.shutdownNow();
            answerer.shutdownNow();
        }
    }
}
