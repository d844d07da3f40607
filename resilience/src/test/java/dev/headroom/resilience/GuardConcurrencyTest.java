package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Backoff;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class GuardConcurrencyTest {

    @Test
    void repliesRacingTheirTimeoutsReleaseEachSlotExactlyOnceAndCompleteEachCallOnce() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        ExecutorService repliers = Executors.newFixedThreadPool(4);
        int calls = 4_000;
        AtomicInteger successes = new AtomicInteger();
        AtomicInteger timeouts = new AtomicInteger();
        AtomicInteger other = new AtomicInteger();
        AtomicInteger completions = new AtomicInteger();
        try (Guard guard = Guard.builder("racing")
                .maxConcurrentCalls(10_000)
                .timeout(Duration.ofNanos(200_000)) // about as long as a reply takes: they race
                .noCircuitBreaker()
                .meterRegistry(registry)
                .build()) {
            List<CompletableFuture<Long>> results = new ArrayList<>();
            SplittableRandom random = new SplittableRandom(7);
            for (int i = 0; i < calls; i++) {
                long spin = random.nextLong(400_000);
                results.add(guard.<Long>getAsync(() -> CompletableFuture.supplyAsync(
                                () -> {
                                    long end = System.nanoTime() + spin;
                                    while (System.nanoTime() < end) {
                                        Thread.onSpinWait();
                                    }
                                    return spin;
                                },
                                repliers))
                        .toCompletableFuture());
            }
            for (CompletableFuture<Long> r : results) {
                r.handle((v, e) -> {
                            completions.incrementAndGet();
                            if (e == null) {
                                successes.incrementAndGet();
                            } else if (e instanceof GuardTimeoutException) {
                                timeouts.incrementAndGet();
                            } else {
                                other.incrementAndGet();
                            }
                            return null;
                        })
                        .get(2, TimeUnit.MINUTES);
            }
            assertThat(completions).hasValue(calls);
            assertThat(other).hasValue(0);
            assertThat(successes.get() + timeouts.get()).isEqualTo(calls);
            assertThat(guard.inFlight()).isZero();
            assertThat(registry.get("headroom.resilience.timeouts").counter().count())
                    .isEqualTo(timeouts.get());
            System.out.printf("racing: %d replies won, %d timeouts won%n", successes.get(), timeouts.get());
        } finally {
            repliers.shutdownNow();
        }
    }

    @Test
    void manyThreadsThroughAnAdaptiveGuardWithRetriesLeaveNoSlotBehindAndNeverExceedTheBudget() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        int threads = 8;
        int callsPerThread = 5_000;
        AtomicLong attempts = new AtomicLong();
        AtomicInteger rejected = new AtomicInteger();
        try (Guard guard = Guard.builder("adaptive-racing")
                .adaptiveLimit(AdaptiveLimit.aimd().initialLimit(4).maxLimit(16).build())
                .noTimeout()
                .noCircuitBreaker()
                .retry(Backoff.builder()
                        .base(Duration.ofNanos(1))
                        .cap(Duration.ofNanos(1))
                        .maxAttempts(3)
                        .build())
                .retryBudget(new RetryBudget(0.1, 0, Duration.ofHours(1)))
                .meterRegistry(registry)
                .build()) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = t;
                done.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(seed);
                    start.await();
                    for (int i = 0; i < callsPerThread; i++) {
                        boolean fail = random.nextInt(4) == 0;
                        try {
                            guard.get(() -> {
                                attempts.incrementAndGet();
                                if (fail) {
                                    throw new IllegalStateException("fails");
                                }
                                return "ok";
                            });
                        } catch (GuardRejectedException e) {
                            rejected.incrementAndGet();
                        } catch (IllegalStateException e) {
                            // the dependency's own failure, after any retries
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
            long calls = (long) threads * callsPerThread;
            double retries = registry.get("headroom.resilience.retries")
                    .tag("outcome", "made")
                    .counter()
                    .count();
            assertThat(guard.inFlight()).isZero();
            assertThat(guard.limit()).isBetween(1, 16);
            assertThat(registry.get("headroom.resilience.limit").gauge().value())
                    .isEqualTo(guard.limit());
            // 10% of the calls counted so far, at every withdrawal; no floor
            assertThat(retries).isLessThanOrEqualTo(calls * 0.1);
            // a granted retry can still be refused at admission (the limit moved), which ends its call
            assertThat(attempts.get()).isBetween(calls - rejected.get(), calls - rejected.get() + (long) retries);
        }
    }
}
