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
import java.util.concurrent.atomic.AtomicReference;
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

    /** Makes {@code calls} calls to a dependency that always fails, counting its attempts. */
    private static void failingCalls(Guard guard, int calls, AtomicInteger attempts) {
        for (int i = 0; i < calls; i++) {
            assertThatThrownBy(() -> guard.get(() -> {
                        attempts.incrementAndGet();
                        throw new IllegalStateException("down");
                    }))
                    .isInstanceOf(IllegalStateException.class);
        }
    }

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
            failingCalls(guard, 2, new AtomicInteger());
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
            failingCalls(guard, 4_000, attempts);
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
        assertThatThrownBy(() -> new CircuitBreakerPolicy(50, 10, 10, Duration.ofNanos(500_000), 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("waitInOpenState must be in [1ms, 1d]");
        assertThatThrownBy(() -> new CircuitBreakerPolicy(50, 10, 10, Duration.ofSeconds(Long.MAX_VALUE), 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("waitInOpenState");
        CircuitBreakerPolicy largest = new CircuitBreakerPolicy(50, 10_000, 10_000, wait, 10_000);
        try (Guard guard =
                Guard.builder("largest-breaker").circuitBreaker(largest).build()) {
            assertThat(guard.get(() -> "ok")).isEqualTo("ok");
        }
    }

    // ---------------------------------------------------------------- adversary round 2

    @Test
    void timeoutsCutShortByTheCallersDeadlineDoNotOpenTheBreakerButTheGuardsOwnDo() throws Exception {
        FakeTicker ticker = new FakeTicker(); // frozen: each deadline leaves exactly 20 ms
        CountDownLatch never = new CountDownLatch(1);
        CircuitBreakerPolicy opensAfterFour = new CircuitBreakerPolicy(50, 4, 4, Duration.ofMinutes(5), 1);
        try (Guard guard = Guard.builder("hurried-callers")
                        .timeout(Duration.ofMinutes(1))
                        .ticker(ticker)
                        .circuitBreaker(opensAfterFour)
                        .build();
                Guard ownTimeout = Guard.builder("own-timeout")
                        .timeout(Duration.ofMillis(20))
                        .circuitBreaker(opensAfterFour)
                        .build()) {
            for (int i = 0; i < 4; i++) {
                try (RequestContext.Scope s = RequestContext.current()
                        .withDeadline(Deadline.after(Duration.ofMillis(20), ticker))
                        .open()) {
                    assertThatThrownBy(() -> guard.call(() -> {
                                never.await();
                                return "late";
                            }))
                            .isInstanceOf(GuardTimeoutException.class);
                }
                assertThatThrownBy(() -> ownTimeout.call(() -> {
                            never.await();
                            return "late";
                        }))
                        .isInstanceOf(GuardTimeoutException.class);
            }
            assertThat(guard.get(() -> "healthy")).isEqualTo("healthy");
            assertThatThrownBy(() -> ownTimeout.get(() -> "x"))
                    .isInstanceOfSatisfying(
                            GuardRejectedException.class,
                            e -> assertThat(e.reason()).isEqualTo(RejectionReason.CIRCUIT_OPEN));
        }
    }

    @Test
    void refusedCallsEarnNoRetryBudget() {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger dependencyCalls = new AtomicInteger();
        try (Guard guard = Guard.builder("refused-earn-nothing")
                .noTimeout()
                .noCircuitBreaker()
                .ticker(ticker)
                .retry(immediateRetries(10))
                .retryBudget(new RetryBudget(0.2, 0, Duration.ofSeconds(10)))
                .build()) {
            Deadline expired = Deadline.after(Duration.ofNanos(1), ticker);
            ticker.advance(Duration.ofMillis(1));
            try (RequestContext.Scope s =
                    RequestContext.current().withDeadline(expired).open()) {
                for (int i = 0; i < 1_000; i++) {
                    assertThatThrownBy(() -> guard.get(dependencyCalls::incrementAndGet))
                            .isInstanceOf(GuardRejectedException.class);
                }
            }
            failingCalls(guard, 100, dependencyCalls);
        }
        assertThat(dependencyCalls).hasValue(120); // 100 calls + 0.2 x 100 retries; refusals earned none
    }

    /** Holds scheduled retries until the test runs them. */
    private static final class ManualScheduler extends ScheduledThreadPoolExecutor {
        final List<Runnable> held = new java.util.concurrent.CopyOnWriteArrayList<>();

        ManualScheduler() {
            super(1);
        }

        @Override
        public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
            held.add(command);
            return super.schedule(() -> {}, 1, TimeUnit.DAYS);
        }
    }

    @Test
    void aCancelledAsyncCallMakesNoFurtherAttempt() {
        ManualScheduler scheduler = new ManualScheduler();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = Guard.builder("cancelled")
                .noTimeout()
                .retry(immediateRetries(5))
                .scheduler(scheduler)
                .build()) {
            CompletableFuture<String> call = guard.<String>getAsync(() -> {
                        attempts.incrementAndGet();
                        return CompletableFuture.failedFuture(new IOException("down"));
                    })
                    .toCompletableFuture();
            assertThat(scheduler.held).hasSize(1); // the retry, waiting
            call.cancel(false);
            scheduler.held.get(0).run();
            assertThat(attempts).hasValue(1);
            assertThat(scheduler.held).hasSize(1);
            assertThat(guard.inFlight()).isZero();
        } finally {
            scheduler.shutdownNow();
        }
    }

    @Test
    void anAsyncFallbackIsNotGivenErrorsAndRunsOffTheTimerWithTheCallersContext() {
        try (Guard guard =
                Guard.builder("async-fallback").timeout(Duration.ofMillis(20)).build()) {
            CompletableFuture<String> error = guard.<String>getAsync(
                            () -> CompletableFuture.failedFuture(new StackOverflowError("deep")), failure -> "fallback")
                    .toCompletableFuture();
            assertThatThrownBy(error::join).hasCauseInstanceOf(StackOverflowError.class);

            AtomicReference<String> seen = new AtomicReference<>();
            try (RequestContext.Scope s = RequestContext.current()
                    .withCriticality(dev.headroom.core.Criticality.CRITICAL)
                    .open()) {
                CompletableFuture<String> timedOut = guard.<String>getAsync(CompletableFuture::new, failure -> {
                            seen.set(Thread.currentThread().getName() + " "
                                    + RequestContext.current().criticality() + " "
                                    + failure.getClass().getSimpleName());
                            return "fallback";
                        })
                        .toCompletableFuture();
                assertThat(timedOut.join()).isEqualTo("fallback");
            }
            assertThat(seen.get()).doesNotContain("timer").contains("CRITICAL").contains("GuardTimeoutException");
        }
    }

    @Test
    void permissionsTakenWhileClosedAreNotGivenToAHalfOpenBreaker() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (Guard guard = Guard.builder("half-open-permits")
                .maxConcurrentCalls(100)
                .timeout(Duration.ofMinutes(5))
                .circuitBreaker(new CircuitBreakerPolicy(50, 2, 2, Duration.ofMillis(1), 1))
                .build()) {
            List<Thread> early = new ArrayList<>();
            for (int i = 0; i < 5; i++) { // admitted while closed, then interrupted while half-open
                Thread t = new Thread(() -> {
                    try {
                        guard.call(() -> {
                            release.await();
                            return "x";
                        });
                    } catch (Exception expected) {
                        // interrupted
                    }
                });
                t.start();
                early.add(t);
            }
            await().until(() -> guard.inFlight() == 5);
            failingCalls(guard, 2, new AtomicInteger());
            // the single trial call, held: once it is admitted the breaker is half-open with no permit left
            Thread trial = new Thread(() -> {
                while (true) {
                    try {
                        guard.call(() -> {
                            release.await();
                            return "trial";
                        });
                        return;
                    } catch (GuardRejectedException stillOpen) {
                        Thread.onSpinWait(); // open for 1 ms, then the next call is the trial
                    } catch (Exception ignored) {
                        return;
                    }
                }
            });
            trial.start();
            await().until(() -> guard.inFlight() == 6);
            early.forEach(Thread::interrupt);
            await().until(() -> guard.inFlight() == 1); // the five ended; the trial holds its permit
            int admitted = 0;
            for (int i = 0; i < 10; i++) {
                try {
                    guard.get(() -> "extra trial");
                    admitted++;
                } catch (GuardRejectedException refused) {
                    assertThat(refused.reason()).isEqualTo(RejectionReason.CIRCUIT_OPEN);
                }
            }
            assertThat(admitted).as("trial calls beyond the configured one").isZero();
            release.countDown();
            trial.join();
            for (Thread t : early) {
                t.join();
            }
        }
    }

    @Test
    void theRetryFloorIsNotSpentTwiceWithinOneWindow() {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = Guard.builder("floor-once")
                .noTimeout()
                .noCircuitBreaker()
                .ticker(ticker)
                .retry(immediateRetries(2))
                .retryBudget(new RetryBudget(0, 10, Duration.ofSeconds(10))) // 100 retries a window
                .build()) {
            Runnable hundredFailingCalls = () -> failingCalls(guard, 100, attempts);
            ticker.advance(Duration.ofMillis(999));
            hundredFailingCalls.run();
            assertThat(attempts.getAndSet(0)).as("at 0.999 s").isEqualTo(200);
            ticker.advance(Duration.ofMillis(9_001)); // t = 10.000 s: those retries are 9.001 s old
            hundredFailingCalls.run();
            assertThat(attempts.getAndSet(0)).as("at 10.000 s").isEqualTo(100);
            ticker.advance(Duration.ofSeconds(1)); // t = 11.000 s: more than a window later
            hundredFailingCalls.run();
            assertThat(attempts.get()).as("at 11.000 s").isEqualTo(200);
        }
    }

    @Test
    void aNestedGuardsTimeoutsAndRefusalsAreTheOuterGuardsDependencyFailures() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CountDownLatch never = new CountDownLatch(1);
        AtomicInteger innerCalls = new AtomicInteger();
        try (Guard inner = Guard.builder("inner")
                        .timeout(Duration.ofMillis(20))
                        .meterRegistry(registry)
                        .build();
                Guard outer = Guard.builder("outer")
                        .noTimeout()
                        .noCircuitBreaker()
                        .retry(immediateRetries(3))
                        .retryOn(t -> true)
                        .meterRegistry(registry)
                        .build()) {
            assertThatThrownBy(() -> outer.call(() -> inner.call(() -> {
                        innerCalls.incrementAndGet();
                        never.await();
                        return "late";
                    })))
                    .isInstanceOf(GuardTimeoutException.class);
            assertThat(registry.get("headroom.resilience.timeouts")
                            .tag("guard", "inner")
                            .counter()
                            .count())
                    .isEqualTo(3.0);
            assertThat(registry.get("headroom.resilience.timeouts")
                            .tag("guard", "outer")
                            .counter()
                            .count())
                    .isZero();
            assertThat(innerCalls).hasValue(3); // the outer guard retried the inner one's timeouts
        }
    }
}
