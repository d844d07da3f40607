package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Backoff;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RetryBudgetTest {

    private static Backoff tinyBackoff(int maxAttempts) {
        return Backoff.builder()
                .base(Duration.ofNanos(1))
                .cap(Duration.ofNanos(1))
                .jitter(Backoff.Jitter.NONE)
                .maxAttempts(maxAttempts)
                .build();
    }

    private static Guard guard(String name, FakeTicker ticker, SimpleMeterRegistry registry) {
        return Guard.builder(name)
                .maxConcurrentCalls(50)
                .noTimeout()
                .noCircuitBreaker()
                .retry(tinyBackoff(3))
                .retryBudget(new RetryBudget(0.2, 10, Duration.ofSeconds(10)))
                .ticker(ticker)
                .meterRegistry(registry)
                .build();
    }

    private static double retries(SimpleMeterRegistry registry, String outcome) {
        return registry.get("headroom.resilience.retries")
                .tag("outcome", outcome)
                .counter()
                .count();
    }

    @Test
    void aThousandCallsToAFailingDependencyMakeExactlyTheBudgetedRetries() {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = guard("failing", ticker, registry)) {
            for (int i = 0; i < 1000; i++) {
                assertThatThrownBy(() -> guard.get(() -> {
                            attempts.incrementAndGet();
                            throw new UncheckedIOException(new IOException("down"));
                        }))
                        .isInstanceOf(UncheckedIOException.class);
            }
            assertThat(retries(registry, "made")).isEqualTo(300);
            // each call the budget cut short counts once; it then gives up
            assertThat(retries(registry, "budget_exhausted")).isPositive();
            assertThat(registry.get("headroom.resilience.retry.budget.available")
                            .gauge()
                            .value())
                    .isZero();
        }
        // budget over one window: 10/s * 10 s = 100, plus 20% of 1,000 calls = 200 → 300 retries,
        // where the backoff alone would have allowed 2,000
        assertThat(attempts).hasValue(1000 + 300);
    }

    @Test
    void theBudgetComesBackAsOldCallsLeaveTheWindow() {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = guard("recovering", ticker, registry)) {
            assertThat(registry.get("headroom.resilience.retry.budget.available")
                            .gauge()
                            .value())
                    .isEqualTo(100.0); // the floor alone, before any call
            for (int i = 0; i < 200; i++) {
                assertThatThrownBy(() -> guard.get(() -> {
                    attempts.incrementAndGet();
                    throw new IllegalStateException("down");
                }));
            }
            // 100 floor + 40 from 200 calls
            assertThat(retries(registry, "made")).isEqualTo(140);
            assertThat(attempts).hasValue(340);

            ticker.advance(Duration.ofSeconds(11)); // every call and retry above has left the window
            attempts.set(0);
            assertThatThrownBy(() -> guard.get(() -> {
                attempts.incrementAndGet();
                throw new IllegalStateException("down");
            }));
            assertThat(attempts).hasValue(3);
        }
    }

    @Test
    void aSucceedingRetryReturnsTheValueAndSpendsOneRetry() {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = guard("flaky", ticker, registry)) {
            String value = guard.get(() -> {
                if (attempts.incrementAndGet() == 1) {
                    throw new IllegalStateException("first attempt fails");
                }
                return "second";
            });
            assertThat(value).isEqualTo("second");
            assertThat(retries(registry, "made")).isEqualTo(1);
        }
    }

    @Test
    void asyncCallsDrawOnTheSameBudget() throws Exception {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = guard("failing-async", ticker, registry)) {
            for (int i = 0; i < 1000; i++) {
                CompletableFuture<Object> result = guard.<Object>getAsync(() -> {
                            attempts.incrementAndGet();
                            return CompletableFuture.failedFuture(new IOException("down"));
                        })
                        .toCompletableFuture();
                assertThatThrownBy(() -> result.get(30, TimeUnit.SECONDS)).hasCauseInstanceOf(IOException.class);
            }
            assertThat(retries(registry, "made")).isEqualTo(300);
        }
        assertThat(attempts).hasValue(1300);
    }

    @Test
    void rejectionsAreNeverRetried() {
        AtomicInteger attempts = new AtomicInteger();
        try (Guard guard = Guard.builder("no-retry-of-rejections")
                .maxConcurrentCalls(1)
                .noTimeout()
                .retry(tinyBackoff(5))
                .build()) {
            java.util.concurrent.CompletableFuture<String> held = new java.util.concurrent.CompletableFuture<>();
            guard.getAsync(() -> held);
            assertThatThrownBy(() -> guard.get(attempts::incrementAndGet)).isInstanceOf(GuardRejectedException.class);
            assertThat(attempts).hasValue(0);
            held.complete("done");
        }
    }
}
