package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

class SheddingTest {

    /** Starts an async call that holds its slot until {@code hold} completes; returns its outcome. */
    private static CompletableFuture<String> hold(Guard guard, Criticality c, CompletableFuture<String> hold) {
        try (RequestContext.Scope s =
                RequestContext.current().withCriticality(c).open()) {
            return guard.getAsync(() -> hold).toCompletableFuture();
        }
    }

    private static RejectionReason rejection(CompletableFuture<String> f) {
        assertThat(f).isCompletedExceptionally();
        return f.handle((v, e) -> ((GuardRejectedException) e).reason()).join();
    }

    @Test
    void asTheGuardFillsSheddableWorkIsRefusedFirstThenDefaultWhileCriticalKeepsTheLastSlots() {
        CompletableFuture<String> release = new CompletableFuture<>();
        try (Guard guard = Guard.builder("mixed")
                .maxConcurrentCalls(10)
                .shedding(0.5, 0.8) // SHEDDABLE below 5 in flight, DEFAULT below 8, CRITICAL below 10
                .noTimeout()
                .build()) {
            List<CompletableFuture<String>> admitted = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                admitted.add(hold(guard, Criticality.SHEDDABLE, release));
            }
            assertThat(rejection(hold(guard, Criticality.SHEDDABLE, release))).isEqualTo(RejectionReason.SHED);
            for (int i = 0; i < 3; i++) {
                admitted.add(hold(guard, Criticality.DEFAULT, release));
            }
            assertThat(rejection(hold(guard, Criticality.DEFAULT, release))).isEqualTo(RejectionReason.SHED);
            assertThat(rejection(hold(guard, Criticality.SHEDDABLE, release))).isEqualTo(RejectionReason.SHED);
            admitted.add(hold(guard, Criticality.CRITICAL, release));
            admitted.add(hold(guard, Criticality.CRITICAL, release));
            assertThat(guard.inFlight()).isEqualTo(10);
            assertThat(rejection(hold(guard, Criticality.CRITICAL, release))).isEqualTo(RejectionReason.BULKHEAD_FULL);
            assertThat(admitted).noneMatch(CompletableFuture::isDone);

            release.complete("ok");
            assertThat(admitted).allMatch(f -> f.join().equals("ok"));
            assertThat(guard.inFlight()).isZero();
        }
    }

    @Test
    void underAMixedOverloadCriticalWorkWithinItsShareAlwaysSucceedsAndSheddableIsShedMost() throws Exception {
        int limit = 10;
        int criticalThreads = 2; // exactly the capacity above DEFAULT's ceiling of 8
        int otherThreads = 8;
        int callsPerThread = 3_000;
        AtomicInteger running = new AtomicInteger();
        AtomicIntegerArray runningBy = new AtomicIntegerArray(3);
        AtomicIntegerArray maxRunningBy = new AtomicIntegerArray(3);
        AtomicLongArray ok = new AtomicLongArray(3);
        AtomicLongArray rejected = new AtomicLongArray(3);
        AtomicInteger maxRunning = new AtomicInteger();
        try (Guard guard = Guard.builder("mixed-overload")
                .maxConcurrentCalls(limit)
                .shedding(0.5, 0.8)
                .noTimeout()
                .noCircuitBreaker()
                .build()) {
            ExecutorService pool = Executors.newFixedThreadPool(criticalThreads + otherThreads);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < criticalThreads + otherThreads; t++) {
                boolean critical = t < criticalThreads;
                long seed = t;
                done.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    start.await();
                    for (int i = 0; i < callsPerThread; i++) {
                        Criticality c = critical
                                ? Criticality.CRITICAL
                                : (random.nextBoolean() ? Criticality.DEFAULT : Criticality.SHEDDABLE);
                        try (RequestContext.Scope s =
                                RequestContext.current().withCriticality(c).open()) {
                            guard.get(() -> {
                                int now = running.incrementAndGet();
                                maxRunning.accumulateAndGet(now, Math::max);
                                int mine = runningBy.incrementAndGet(c.ordinal());
                                maxRunningBy.accumulateAndGet(c.ordinal(), mine, Math::max);
                                for (int spin = 0; spin < 200; spin++) {
                                    Thread.onSpinWait();
                                }
                                runningBy.decrementAndGet(c.ordinal());
                                running.decrementAndGet();
                                return c;
                            });
                            ok.incrementAndGet(c.ordinal());
                        } catch (GuardRejectedException e) {
                            rejected.incrementAndGet(c.ordinal());
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(2, TimeUnit.MINUTES);
            }
            pool.shutdown();
        }
        Map<Criticality, Double> rejectionRate = new EnumMap<>(Criticality.class);
        for (Criticality c : Criticality.values()) {
            long total = ok.get(c.ordinal()) + rejected.get(c.ordinal());
            rejectionRate.put(c, total == 0 ? 0 : (double) rejected.get(c.ordinal()) / total);
        }
        System.out.printf("mixed overload: rejection rate %s, max running %d%n", rejectionRate, maxRunning.get());

        assertThat(rejected.get(Criticality.CRITICAL.ordinal())).isZero();
        assertThat(ok.get(Criticality.CRITICAL.ordinal())).isEqualTo((long) criticalThreads * callsPerThread);
        assertThat(maxRunning.get()).isLessThanOrEqualTo(limit);
        assertThat(maxRunningBy.get(Criticality.SHEDDABLE.ordinal())).isLessThanOrEqualTo(5);
        assertThat(maxRunningBy.get(Criticality.DEFAULT.ordinal())).isLessThanOrEqualTo(8);
        assertThat(rejectionRate.get(Criticality.SHEDDABLE)).isGreaterThan(rejectionRate.get(Criticality.DEFAULT));
    }
}
