package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class GuardIsolationTest {

    /** A dependency "ten times slower" than its callers' patience: it answers only when released. */
    private static String slowCall(CountDownLatch started, CountDownLatch release) {
        started.countDown();
        try {
            release.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return "slow";
    }

    @Test
    void aSlowDependencyFillsItsOwnBulkheadAndRejectsWhileCallsThroughAnotherGuardNeverWaitOnIt() throws Exception {
        // both guards run calls on their own executors (a timeout is set), the path where sharing a pool
        // would let one dependency starve the other
        try (Guard slow = Guard.builder("slow")
                        .maxConcurrentCalls(4)
                        .shedding(1.0, 1.0) // all DEFAULT work here: no capacity kept for CRITICAL
                        .timeout(Duration.ofMinutes(5))
                        .noCircuitBreaker()
                        .build();
                Guard healthy = Guard.builder("healthy")
                        .maxConcurrentCalls(4)
                        .timeout(Duration.ofMinutes(5))
                        .build()) {
            CountDownLatch started = new CountDownLatch(4);
            CountDownLatch release = new CountDownLatch(1);
            ExecutorService callers = Executors.newFixedThreadPool(4);
            try {
                List<Future<String>> stuck = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    stuck.add(callers.submit(() -> slow.get(() -> slowCall(started, release))));
                }
                assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
                assertThat(slow.inFlight()).isEqualTo(4);

                AtomicInteger slowCalled = new AtomicInteger();
                assertThatThrownBy(() -> slow.get(slowCalled::incrementAndGet))
                        .isInstanceOfSatisfying(GuardRejectedException.class, e -> {
                            assertThat(e.reason()).isEqualTo(RejectionReason.BULKHEAD_FULL);
                            assertThat(e.guard()).isEqualTo("slow");
                            assertThat(e.retryAfter()).isPositive();
                        });
                assertThat(slowCalled).hasValue(0);

                for (int i = 0; i < 200; i++) {
                    int n = i;
                    assertThat(healthy.get(() -> n)).isEqualTo(n);
                }
                // all 200 healthy calls completed while every slow call was still held
                assertThat(release.getCount()).isEqualTo(1);
                assertThat(stuck).noneMatch(Future::isDone);
                assertThat(healthy.inFlight()).isZero();

                release.countDown();
                for (Future<String> f : stuck) {
                    assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo("slow");
                }
                assertThat(slow.inFlight()).isZero();
                assertThat(slow.get(() -> "free again")).isEqualTo("free again");
            } finally {
                release.countDown();
                callers.shutdownNow();
            }
        }
    }

    @Test
    void aSlowAsyncDependencyHoldsNoThreadAndNeverDelaysAnotherGuard() throws Exception {
        try (Guard slow = Guard.builder("slow-async")
                        .maxConcurrentCalls(3)
                        .shedding(1.0, 1.0)
                        .noTimeout()
                        .build();
                Guard healthy = Guard.builder("healthy-async")
                        .maxConcurrentCalls(3)
                        .noTimeout()
                        .build()) {
            List<java.util.concurrent.CompletableFuture<String>> pending = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                java.util.concurrent.CompletableFuture<String> p = new java.util.concurrent.CompletableFuture<>();
                pending.add(p);
                slow.getAsync(() -> p);
            }
            assertThat(slow.inFlight()).isEqualTo(3);
            assertThat(slow.getAsync(() -> java.util.concurrent.CompletableFuture.completedFuture("x"))
                            .toCompletableFuture())
                    .isCompletedExceptionally();
            for (int i = 0; i < 100; i++) {
                assertThat(healthy.getAsync(() -> java.util.concurrent.CompletableFuture.completedFuture("ok"))
                                .toCompletableFuture()
                                .getNow("not yet"))
                        .isEqualTo("ok");
            }
            pending.forEach(p -> p.complete("done"));
            assertThat(slow.inFlight()).isZero();
        }
    }
}
