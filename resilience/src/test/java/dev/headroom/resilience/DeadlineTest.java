package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Backoff;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class DeadlineTest {

    @Test
    void noAttemptStartsWithLessRemainingTimeThanTheMinimum() {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        AtomicInteger called = new AtomicInteger();
        try (Guard guard = Guard.builder("deadlines")
                .noTimeout() // the deadline alone bounds the wait: 51 s
                .minimumRemainingTime(Duration.ofSeconds(50))
                .ticker(ticker)
                .meterRegistry(registry)
                .build()) {
            try (RequestContext.Scope s = RequestContext.current()
                    .withDeadline(Deadline.after(Duration.ofSeconds(49), ticker))
                    .open()) {
                assertThatThrownBy(() -> guard.get(called::incrementAndGet))
                        .isInstanceOfSatisfying(GuardRejectedException.class, e -> {
                            assertThat(e.reason()).isEqualTo(RejectionReason.DEADLINE);
                            assertThat(e.retryAfter()).isZero();
                        });
            }
            assertThat(called).hasValue(0);
            assertThat(registry.get("headroom.resilience.rejections")
                            .tag("reason", "deadline")
                            .tag("criticality", "default")
                            .counter()
                            .count())
                    .isEqualTo(1);

            try (RequestContext.Scope s = RequestContext.current()
                    .withDeadline(Deadline.after(Duration.ofSeconds(51), ticker))
                    .open()) {
                assertThat(guard.get(called::incrementAndGet)).isEqualTo(1);
            }
        }
    }

    @Test
    void retriesStopAtTheDeadlineAndEveryAttemptStartedWithAtLeastTheMinimum() {
        FakeTicker ticker = new FakeTicker();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<Duration> remainingAtStart = new ArrayList<>();
        Deadline deadline = Deadline.after(Duration.ofSeconds(100), ticker);
        try (Guard guard = Guard.builder("retry-to-deadline")
                .noTimeout()
                .noCircuitBreaker()
                .minimumRemainingTime(Duration.ofSeconds(5))
                .retry(Backoff.builder()
                        .base(Duration.ofNanos(1))
                        .cap(Duration.ofNanos(1))
                        .maxAttempts(100)
                        .build())
                .ticker(ticker)
                .meterRegistry(registry)
                .build()) {
            try (RequestContext.Scope s =
                    RequestContext.current().withDeadline(deadline).open()) {
                assertThatThrownBy(() -> guard.get(() -> {
                            remainingAtStart.add(deadline.remaining());
                            ticker.advance(Duration.ofSeconds(30)); // each attempt takes 30 s and fails
                            throw new IllegalStateException("slow and failing");
                        }))
                        .isInstanceOf(IllegalStateException.class);
            }
            assertThat(registry.get("headroom.resilience.retries")
                            .tag("outcome", "deadline")
                            .counter()
                            .count())
                    .isEqualTo(1);
        }
        // starts at 100, 70, 40 and 10 s remaining; after the fourth, -20 s remain: no fifth attempt
        assertThat(remainingAtStart)
                .containsExactly(
                        Duration.ofSeconds(100),
                        Duration.ofSeconds(70),
                        Duration.ofSeconds(40),
                        Duration.ofSeconds(10));
        assertThat(remainingAtStart).allMatch(r -> r.compareTo(Duration.ofSeconds(5)) >= 0);
    }

    @Test
    void theTimeoutShrinksToWhatTheDeadlineLeaves() {
        FakeTicker ticker = new FakeTicker();
        CountDownLatch never = new CountDownLatch(1);
        try (Guard guard = Guard.builder("shrinking-timeout")
                .timeout(Duration.ofMinutes(10))
                .minimumRemainingTime(Duration.ZERO)
                .ticker(ticker)
                .build()) {
            try (RequestContext.Scope s = RequestContext.current()
                    .withDeadline(Deadline.after(Duration.ofMillis(50), ticker))
                    .open()) {
                assertThatThrownBy(() -> guard.get(() -> {
                            try {
                                never.await();
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                            return "late";
                        }))
                        .isInstanceOfSatisfying(
                                GuardTimeoutException.class,
                                e -> assertThat(e.timeout()).isEqualTo(Duration.ofMillis(50)));
            }
        }
    }

    @Test
    void asyncCallsAreRefusedWhenTheDeadlineLeavesTooLittle() {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger called = new AtomicInteger();
        try (Guard guard = Guard.builder("async-deadline")
                .minimumRemainingTime(Duration.ofSeconds(1))
                .ticker(ticker)
                .build()) {
            try (RequestContext.Scope s = RequestContext.current()
                    .withDeadline(Deadline.after(Duration.ofMillis(999), ticker))
                    .open()) {
                var result = guard.getAsync(() -> {
                            called.incrementAndGet();
                            return java.util.concurrent.CompletableFuture.completedFuture("x");
                        })
                        .toCompletableFuture();
                assertThat(result).isCompletedExceptionally();
                assertThatThrownBy(result::join).hasCauseInstanceOf(GuardRejectedException.class);
            }
        }
        assertThat(called).hasValue(0);
    }
}
