package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.headroom.core.Backoff;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Faults around the call rather than in the dependency: interrupted callers, broken executors and
 * schedulers, a throwing retry predicate, absurd backoffs, clashing meter names. Each case here was
 * found broken by an adversarial review; none may leak a slot, hang a caller, or open a breaker on a
 * healthy dependency.
 */
class GuardFaultTest {
    private static final CircuitBreakerPolicy OPENS_AFTER_TWO_FAILURES =
            new CircuitBreakerPolicy(50, 2, 2, Duration.ofMinutes(5), 1);

    private static Backoff immediateRetries(int maxAttempts) {
        return Backoff.builder()
                .base(Duration.ofNanos(1))
                .cap(Duration.ofNanos(1))
                .maxAttempts(maxAttempts)
                .build();
    }

    @Test
    void callersInterruptedWhileWaitingDoNotCountAsDependencyFailures() throws Exception {
        CountDownLatch never = new CountDownLatch(1);
        try (Guard guard = Guard.builder("interrupted-callers")
                .timeout(Duration.ofMinutes(5))
                .circuitBreaker(OPENS_AFTER_TWO_FAILURES)
                .build()) {
            List<Thread> callers = new ArrayList<>();
            List<Throwable> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<Boolean> flags = new java.util.concurrent.CopyOnWriteArrayList<>();
            for (int i = 0; i < 2; i++) {
                Thread t = new Thread(() -> {
                    try {
                        guard.call(() -> {
                            never.await();
                            return "never";
                        });
                    } catch (Exception e) {
                        seen.add(e);
                        flags.add(Thread.currentThread().isInterrupted());
                    }
                });
                t.start();
                callers.add(t);
            }
            await().until(() -> guard.inFlight() == 2);
            callers.forEach(Thread::interrupt);
            for (Thread t : callers) {
                t.join();
            }
            assertThat(seen).hasSize(2).allMatch(e -> e instanceof InterruptedException);
            assertThat(flags).containsExactly(true, true);
            await().until(() -> guard.inFlight() == 0); // the interrupted work ended and gave its slot back
            // two failures would have opened it: the callers' impatience says nothing about the dependency
            assertThat(guard.get(() -> "healthy")).isEqualTo("healthy");
        }
    }

    @Test
    void anInterruptedExceptionIsNeverRetriedKeepsTheFlagAndIsNotABreakerFailure() throws Exception {
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = Guard.builder("interrupted-dependency")
                .noTimeout()
                .retry(immediateRetries(5))
                .circuitBreaker(OPENS_AFTER_TWO_FAILURES)
                .build()) {
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> guard.call(() -> {
                            attempts.incrementAndGet();
                            throw new InterruptedException("shutting down");
                        }))
                        .isInstanceOf(InterruptedException.class);
                assertThat(Thread.interrupted()).as("interrupt flag set again").isTrue();
            }
            assertThat(attempts).hasValue(3);
            assertThat(guard.get(() -> "healthy")).isEqualTo("healthy");
            assertThat(guard.inFlight()).isZero();
        }
    }

    @Test
    void aRetryPredicateThatThrowsCompletesTheAsyncCallInsteadOfHangingIt() {
        IllegalStateException bug = new IllegalStateException("bug in retryOn");
        try (Guard guard = Guard.builder("throwing-predicate")
                .noTimeout()
                .retry(immediateRetries(3))
                .retryOn(t -> {
                    throw bug;
                })
                .build()) {
            CompletableFuture<String> async = guard.<String>getAsync(
                            () -> CompletableFuture.failedFuture(new IOException("down")))
                    .toCompletableFuture();
            assertThat(async).isCompletedExceptionally();
            assertThatThrownBy(async::join).hasCause(bug);
            assertThat(bug.getSuppressed()).singleElement().isInstanceOf(IOException.class);
            assertThat(guard.inFlight()).isZero();
        }
    }

    @Test
    void anExecutorThatThrowsAnErrorGivesTheSlotAndTheBreakerPermissionBack() {
        try (Guard guard = Guard.builder("broken-executor")
                .maxConcurrentCalls(1)
                .timeout(Duration.ofMinutes(1))
                .circuitBreaker(new CircuitBreakerPolicy(50, 2, 2, Duration.ofMinutes(5), 1))
                .executor(work -> {
                    throw new StackOverflowError("executor broke");
                })
                .build()) {
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> guard.get(() -> "x")).isInstanceOf(StackOverflowError.class);
                assertThat(guard.inFlight()).isZero();
            }
        }
    }

    /** A scheduler that refuses work with something other than RejectedExecutionException. */
    private static final class BrokenScheduler extends ScheduledThreadPoolExecutor {
        BrokenScheduler() {
            super(1);
        }

        @Override
        public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
            throw new IllegalStateException("scheduler broke");
        }
    }

    @Test
    void aSchedulerThatThrowsFailsTheAsyncCallAndLeaksNoSlot() {
        BrokenScheduler scheduler = new BrokenScheduler();
        try (Guard timed = Guard.builder("broken-timer")
                        .maxConcurrentCalls(1)
                        .timeout(Duration.ofMinutes(1))
                        .scheduler(scheduler)
                        .build();
                Guard retrying = Guard.builder("broken-retry-timer")
                        .maxConcurrentCalls(1)
                        .noTimeout()
                        .retry(immediateRetries(3))
                        .scheduler(scheduler)
                        .build()) {
            for (int i = 0; i < 3; i++) {
                CompletableFuture<String> a =
                        timed.<String>getAsync(() -> new CompletableFuture<>()).toCompletableFuture();
                assertThatThrownBy(a::join).hasMessageContaining("scheduler broke");
                assertThat(timed.inFlight()).isZero();

                CompletableFuture<String> b = retrying.<String>getAsync(
                                () -> CompletableFuture.failedFuture(new IOException("down")))
                        .toCompletableFuture();
                assertThatThrownBy(b::join)
                        .isInstanceOf(CompletionException.class)
                        .hasCauseInstanceOf(IOException.class);
                assertThat(retrying.inFlight()).isZero();
            }
        } finally {
            scheduler.shutdownNow();
        }
    }

    @Test
    void aHugeBackoffPastAnExpiredDeadlineEndsTheCallInsteadOfSleepingForAges() {
        FakeTicker ticker = new FakeTicker();
        try (Guard guard = Guard.builder("huge-backoff")
                .noTimeout()
                .ticker(ticker)
                .retry(Backoff.builder()
                        .base(Duration.ofDays(365L * 1000)) // saturates at Long.MAX_VALUE nanoseconds
                        .cap(Duration.ofDays(365L * 1000))
                        .maxAttempts(3)
                        .build())
                .build()) {
            // the preemptive timeout runs the call on another thread: the deadline is opened there
            assertTimeoutPreemptively(Duration.ofMinutes(1), () -> {
                try (RequestContext.Scope s = RequestContext.current()
                        .withDeadline(Deadline.after(Duration.ofSeconds(1), ticker))
                        .open()) {
                    assertThatThrownBy(() -> guard.get(() -> {
                                ticker.advance(Duration.ofSeconds(2)); // the deadline passes during the attempt
                                throw new IllegalStateException("down");
                            }))
                            .isInstanceOf(IllegalStateException.class);
                }
            });
        }
    }

    @Test
    void everyBreakerTransitionIsLoggedIncludingHalfOpen() {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream original = System.err;
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (Guard guard = Guard.builder("half-open-logged")
                .noTimeout()
                .circuitBreaker(new CircuitBreakerPolicy(50, 2, 2, Duration.ofMillis(1), 1))
                .build()) {
            for (int i = 0; i < 2; i++) {
                assertThatThrownBy(() -> guard.get(() -> {
                            throw new IllegalStateException("down");
                        }))
                        .isInstanceOf(IllegalStateException.class);
            }
            // Resilience4j's own clock: wait until the 1 ms open state has passed and a trial call is let in
            await().ignoreExceptions().until(() -> "up".equals(guard.get(() -> "up")));
        } finally {
            System.setErr(original);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8)
                .lines()
                .filter(l -> l.contains("guard 'half-open-logged'"))
                .toList();
        assertThat(lines).hasSize(3);
        assertThat(lines.get(0)).contains("CLOSED -> OPEN");
        assertThat(lines.get(1)).contains("OPEN -> HALF_OPEN");
        assertThat(lines.get(2)).contains("HALF_OPEN -> CLOSED");
    }

    @Test
    void twoGuardsOfOneNameOnOneRegistryAreRefusedNamingTheGuard() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Guard first = Guard.builder("payments").meterRegistry(registry).build()) {
            assertThatThrownBy(() ->
                            Guard.builder("payments").meterRegistry(registry).build())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("'payments'")
                    .hasMessageContaining("already");
            // the refused guard removed nothing of the first one's
            assertThat(registry.find("headroom.resilience.limit")
                            .tag("guard", "payments")
                            .gauge())
                    .isNotNull();
            assertThat(first.get(() -> "ok")).isEqualTo("ok");
        }
        // once the first is closed, the name is free again
        try (Guard again = Guard.builder("payments").meterRegistry(registry).build()) {
            assertThat(again.limit()).isPositive();
        }
    }

    @Test
    void aRetryBudgetRatioFinerThanAThousandthIsKept() {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = Guard.builder("fine-ratio")
                .noTimeout()
                .noCircuitBreaker()
                .ticker(ticker)
                .retry(immediateRetries(2))
                .retryBudget(new RetryBudget(0.0005, 0, Duration.ofSeconds(10)))
                .build()) {
            for (int i = 0; i < 4_000; i++) {
                try {
                    guard.get(() -> {
                        attempts.incrementAndGet();
                        throw new IllegalStateException("down");
                    });
                } catch (IllegalStateException expected) {
                    // every call fails
                }
            }
        }
        assertThat(attempts.get() - 4_000).as("retries").isEqualTo(2); // 0.0005 x 4,000
    }

    @Test
    void absurdBreakerSizesAreRefusedNamingTheFieldInsteadOfExhaustingMemory() {
        Duration wait = Duration.ofSeconds(1);
        assertThatThrownBy(() -> new CircuitBreakerPolicy(50, Integer.MAX_VALUE, 1, wait, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("slidingWindowSize must be in [1, 10000]");
        assertThatThrownBy(() -> new CircuitBreakerPolicy(50, 10, 10, wait, Integer.MAX_VALUE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("callsInHalfOpenState must be in [1, 10000]");
        CircuitBreakerPolicy largest = new CircuitBreakerPolicy(50, 10_000, 10_000, wait, 10_000);
        try (Guard guard =
                Guard.builder("largest-breaker").circuitBreaker(largest).build()) {
            assertThat(guard.get(() -> "ok")).isEqualTo("ok");
        }
    }
}
