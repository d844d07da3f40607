package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Backoff;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class GuardTest {

    @Test
    void anOpenCircuitRejectsWithoutCallingTheDependencyAndSuggestsTheOpenWait() {
        AtomicInteger called = new AtomicInteger();
        try (Guard guard = Guard.builder("breaking")
                .noTimeout()
                .circuitBreaker(new CircuitBreakerPolicy(50, 4, 4, Duration.ofMinutes(1), 1))
                .build()) {
            for (int i = 0; i < 4; i++) {
                assertThatThrownBy(() -> guard.get(() -> {
                            called.incrementAndGet();
                            throw new IllegalStateException("boom");
                        }))
                        .isInstanceOf(IllegalStateException.class);
            }
            assertThatThrownBy(() -> guard.get(called::incrementAndGet))
                    .isInstanceOfSatisfying(GuardRejectedException.class, e -> {
                        assertThat(e.reason()).isEqualTo(RejectionReason.CIRCUIT_OPEN);
                        assertThat(e.retryAfter()).isEqualTo(Duration.ofMinutes(1));
                        assertThat(e.getStackTrace()).isEmpty();
                    });
            assertThat(called).hasValue(4);
            assertThat(guard.inFlight()).isZero();
        }
    }

    @Test
    void aBulkheadRejectionDoesNotLeakTheBreakersHalfOpenPermitOrTheSlot() {
        CompletableFuture<String> held = new CompletableFuture<>();
        try (Guard guard =
                Guard.builder("no-leaks").maxConcurrentCalls(1).noTimeout().build()) {
            guard.getAsync(() -> held);
            for (int i = 0; i < 100; i++) {
                assertThatThrownBy(() -> guard.get(() -> "x")).isInstanceOf(GuardRejectedException.class);
            }
            held.complete("done");
            assertThat(guard.inFlight()).isZero();
            assertThat(guard.get(() -> "after")).isEqualTo("after");
        }
    }

    @Test
    void aSynchronousCallPastItsTimeoutIsInterruptedAndKeepsItsSlotUntilItReallyEnds() throws Exception {
        CountDownLatch interrupted = new CountDownLatch(1);
        CountDownLatch letItEnd = new CountDownLatch(1);
        CountDownLatch inDependency = new CountDownLatch(1);
        // hands the work to a new thread and returns only once the dependency runs: the timeout then
        // surely finds it running, however slowly threads start on a loaded machine
        java.util.concurrent.Executor startsTheWork = work -> {
            new Thread(work, "dependency").start();
            try {
                inDependency.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        };
        try (Guard guard = Guard.builder("timing-out")
                .maxConcurrentCalls(1)
                .timeout(Duration.ofMillis(50))
                .executor(startsTheWork)
                .build()) {
            assertThatThrownBy(() -> guard.get(() -> {
                        inDependency.countDown();
                        try {
                            new CountDownLatch(1).await();
                        } catch (InterruptedException e) {
                            interrupted.countDown();
                            // a dependency that ignores its interrupt for a while
                            while (true) {
                                try {
                                    letItEnd.await();
                                    break;
                                } catch (InterruptedException again) {
                                    // keep waiting
                                }
                            }
                        }
                        return "late";
                    }))
                    .isInstanceOfSatisfying(GuardTimeoutException.class, e -> {
                        assertThat(e.timeout()).isEqualTo(Duration.ofMillis(50));
                        assertThat(e.guard()).isEqualTo("timing-out");
                    });
            assertThat(interrupted.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(guard.inFlight()).isEqualTo(1); // abandoned work still holds its slot
            assertThatThrownBy(() -> guard.get(() -> "x"))
                    .isInstanceOfSatisfying(
                            GuardRejectedException.class,
                            e -> assertThat(e.reason()).isEqualTo(RejectionReason.BULKHEAD_FULL));
            letItEnd.countDown();
            await().atMost(Duration.ofSeconds(30)).until(() -> guard.inFlight() == 0);
        }
    }

    @Test
    void anAsyncCallPastItsTimeoutIsCancelledAndReleasesItsSlot() {
        CompletableFuture<String> never = new CompletableFuture<>();
        try (Guard guard = Guard.builder("async-timeout")
                .maxConcurrentCalls(1)
                .timeout(Duration.ofMillis(20))
                .build()) {
            CompletableFuture<String> result = guard.getAsync(() -> never).toCompletableFuture();
            assertThatThrownBy(() -> result.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(GuardTimeoutException.class);
            assertThat(never).isCancelled();
            assertThat(guard.inFlight()).isZero();
        }
    }

    @Test
    void aFallbackAnswersFailuresAndRejectionsButTheDependencySeesOnlyRealCalls() {
        AtomicInteger called = new AtomicInteger();
        CompletableFuture<String> held = new CompletableFuture<>();
        try (Guard guard =
                Guard.builder("fallback").maxConcurrentCalls(1).noTimeout().build()) {
            assertThat(guard.<String>get(
                            () -> {
                                called.incrementAndGet();
                                throw new IllegalStateException("boom");
                            },
                            e -> "fallback:" + e.getMessage()))
                    .isEqualTo("fallback:boom");
            guard.getAsync(() -> held);
            assertThat(guard.get(
                            () -> "never",
                            e -> ((GuardRejectedException) e).reason().name()))
                    .isEqualTo("BULKHEAD_FULL");
            assertThat(guard.getAsync(() -> CompletableFuture.completedFuture("never"), e -> "async fallback")
                            .toCompletableFuture()
                            .join())
                    .isEqualTo("async fallback");
            held.complete("x");
            assertThat(called).hasValue(1);
        }
    }

    @Test
    void checkedExceptionsOfACallableReachTheCallerUnwrapped() {
        try (Guard guard = Guard.builder("checked").noTimeout().build()) {
            assertThatThrownBy(() -> guard.call(() -> {
                        throw new IOException("disk");
                    }))
                    .isInstanceOf(IOException.class)
                    .hasMessage("disk");
        }
    }

    @Test
    void theRequestContextTravelsWithCallsRunOnTheGuardsThreads() throws Exception {
        try (Guard guard = Guard.builder("context")
                .timeout(Duration.ofMinutes(1))
                .retry(Backoff.builder()
                        .base(Duration.ofNanos(1))
                        .cap(Duration.ofNanos(1))
                        .maxAttempts(2)
                        .build())
                .build()) {
            try (RequestContext.Scope s = RequestContext.current()
                    .withCriticality(Criticality.CRITICAL)
                    .open()) {
                assertThat(guard.get(() -> RequestContext.current().criticality()))
                        .isEqualTo(Criticality.CRITICAL);
                AtomicInteger attempts = new AtomicInteger();
                CompletableFuture<Criticality> async = guard.<Criticality>getAsync(() -> attempts.incrementAndGet() == 1
                                ? CompletableFuture.failedFuture(new IOException("first"))
                                : CompletableFuture.completedFuture(
                                        RequestContext.current().criticality()))
                        .toCompletableFuture();
                assertThat(async.get(30, TimeUnit.SECONDS)).isEqualTo(Criticality.CRITICAL); // the retry's
            }
        }
    }

    @Test
    void adaptiveThrottlingRefusesLocallyOnceTheDependencyAcceptsTooLittle() {
        AtomicInteger called = new AtomicInteger();
        try (Guard guard = Guard.builder("throttled")
                .noTimeout()
                .noCircuitBreaker()
                .adaptiveThrottling(2)
                .random(new java.util.Random(42))
                .build()) {
            int throttled = 0;
            for (int i = 0; i < 1000; i++) {
                try {
                    guard.get(() -> {
                        called.incrementAndGet();
                        throw new IllegalStateException("overloaded");
                    });
                } catch (GuardRejectedException e) {
                    assertThat(e.reason()).isEqualTo(RejectionReason.THROTTLED);
                    throttled++;
                } catch (IllegalStateException e) {
                    // reached the dependency
                }
            }
            // with no accepts, p = requests / (requests + 1): almost everything after the first few is refused
            assertThat(throttled + called.get()).isEqualTo(1000);
            assertThat(called.get()).isLessThan(100);
        }
    }

    @Test
    void theGuardsOwnBulkheadRejectionsDoNotCountAgainstTheDependencyInTheThrottle() {
        CompletableFuture<String> held = new CompletableFuture<>();
        try (Guard guard = Guard.builder("throttle-counts-sent-only")
                .maxConcurrentCalls(1)
                .shedding(1.0, 1.0)
                .noTimeout()
                .noCircuitBreaker()
                .adaptiveThrottling(2)
                .random(new java.util.Random(1))
                .build()) {
            assertThat(guard.get(() -> "accepted")).isEqualTo("accepted"); // 1 sent, 1 accepted
            CompletableFuture<String> first = guard.getAsync(() -> held).toCompletableFuture(); // 2 sent: p = 0
            for (int i = 0; i < 1000; i++) {
                assertThatThrownBy(() -> guard.get(() -> "x"))
                        .isInstanceOfSatisfying(
                                GuardRejectedException.class,
                                e -> assertThat(e.reason()).isEqualTo(RejectionReason.BULKHEAD_FULL));
            }
            held.complete("accepted");
            assertThat(first.join()).isEqualTo("accepted");
            // two sent, two accepted: p = 0, whatever the 1,000 refusals in between (had they counted,
            // p would be (1002 - 4) / 1003 and nearly every call below would be THROTTLED)
            for (int i = 0; i < 100; i++) {
                assertThat(guard.get(() -> "sent")).isEqualTo("sent");
            }
        }
    }

    @Test
    void closingRemovesEveryMeterAndRefusesFurtherCalls() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Guard guard = Guard.builder("closing")
                .retry(Backoff.builder().maxAttempts(2).build())
                .meterRegistry(registry)
                .build();
        assertThat(registry.find("headroom.resilience.limit")
                        .tag("guard", "closing")
                        .gauge())
                .isNotNull();
        assertThat(registry.find("resilience4j.circuitbreaker.state")
                        .tag("name", "closing")
                        .meters())
                .isNotEmpty();
        guard.close();
        assertThat(registry.getMeters()).isEmpty();
        assertThatThrownBy(() -> guard.get(() -> "x")).isInstanceOf(IllegalStateException.class);
        guard.close(); // idempotent
    }

    @Test
    void anAsyncCallWaitingToRetryWhenItsGuardClosesStillCompletesWithItsFailure() throws Exception {
        AtomicInteger attempts = new AtomicInteger();
        Guard guard = Guard.builder("closing-mid-retry")
                .retry(Backoff.builder()
                        .base(Duration.ofMillis(50))
                        .cap(Duration.ofMillis(50))
                        .jitter(Backoff.Jitter.NONE)
                        .maxAttempts(5)
                        .build())
                .build();
        CompletableFuture<String> result = guard.<String>getAsync(() -> {
                    attempts.incrementAndGet();
                    return CompletableFuture.failedFuture(new IOException("down"));
                })
                .toCompletableFuture();
        guard.close(); // the first retry is already scheduled; nothing after it can be
        assertThatThrownBy(() -> result.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(IOException.class);
        assertThat(attempts.get()).isBetween(1, 2);
        assertThat(guard.inFlight()).isZero();
    }

    @Test
    void sheddingIsCountedByReasonAndCriticality() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CompletableFuture<String> held = new CompletableFuture<>();
        try (Guard guard = Guard.builder("counted")
                .maxConcurrentCalls(2)
                .shedding(0.5, 0.5)
                .noTimeout()
                .meterRegistry(registry)
                .build()) {
            guard.getAsync(() -> held);
            try (RequestContext.Scope s = RequestContext.current()
                    .withCriticality(Criticality.SHEDDABLE)
                    .open()) {
                assertThatThrownBy(() -> guard.get(() -> "x")).isInstanceOf(GuardRejectedException.class);
            }
            assertThat(registry.get("headroom.resilience.rejections")
                            .tag("guard", "counted")
                            .tag("reason", "shed")
                            .tag("criticality", "sheddable")
                            .counter()
                            .count())
                    .isEqualTo(1);
            assertThat(registry.get("headroom.resilience.inflight").gauge().value())
                    .isEqualTo(1);
            held.complete("x");
        }
    }

    @Test
    void theBuilderNamesTheFieldAndValueOfBadInput() {
        assertThatThrownBy(() -> Guard.builder(" ")).hasMessageContaining("name");
        assertThatThrownBy(() -> Guard.builder("g").maxConcurrentCalls(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxConcurrentCalls")
                .hasMessageContaining("0");
        assertThatThrownBy(() -> Guard.builder("g").timeout(Duration.ofMillis(-1)))
                .hasMessageContaining("timeout")
                .hasMessageContaining("-0.001");
        assertThatThrownBy(() -> Guard.builder("g").minimumRemainingTime(Duration.ofMillis(-1)))
                .hasMessageContaining("minimumRemainingTime");
        assertThatThrownBy(() -> Guard.builder("g").shedding(0.9, 0.5)).hasMessageContaining("sheddableShare");
        assertThatThrownBy(
                        () -> Guard.builder("g").timeout(Duration.ofSeconds(1)).noTimeout())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("timeout");
        assertThatThrownBy(() -> Guard.builder("g")
                        .maxConcurrentCalls(5)
                        .adaptiveLimit(AdaptiveLimit.gradient().build())
                        .build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("maxConcurrentCalls");
        assertThatThrownBy(() ->
                        Guard.builder("g").retryBudget(RetryBudget.defaults()).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("retry");
        assertThatThrownBy(() -> new RetryBudget(-0.1, 1, Duration.ofSeconds(1)))
                .hasMessageContaining("ratio");
        assertThatThrownBy(() -> new CircuitBreakerPolicy(50, 10, 11, Duration.ofSeconds(1), 1))
                .hasMessageContaining("minimumCalls");
        assertThatThrownBy(() -> AdaptiveLimit.gradient().latencyThreshold(Duration.ofMillis(1)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("latencyThreshold");
        assertThatThrownBy(() -> AdaptiveLimit.aimd().minLimit(10).maxLimit(5).build())
                .hasMessageContaining("minLimit");
        assertThatThrownBy(() -> Guard.builder("g").retry(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("retry");
    }

    @Test
    void aGuardWithoutATimeoutOrDeadlineRunsTheCallOnTheCallersThread() {
        AtomicBoolean sameThread = new AtomicBoolean();
        Thread caller = Thread.currentThread();
        try (Guard guard = Guard.builder("inline").noTimeout().build()) {
            guard.get(() -> {
                sameThread.set(Thread.currentThread() == caller);
                return null;
            });
        }
        assertThat(sameThread).isTrue();
    }
}
