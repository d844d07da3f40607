package dev.headroom.resilience;

import java.time.Duration;
import java.util.Objects;

/**
 * When a {@link Guard}'s circuit breaker (a Resilience4j {@code CircuitBreaker}, count-based window)
 * opens and how it recovers: it opens when at least {@code minimumCalls} of the last {@code
 * slidingWindowSize} calls were recorded and {@code failureRatePercent} of them failed (exceptions
 * and timeouts; rejections are not calls); it stays open for {@code waitInOpenState}, then lets
 * {@code callsInHalfOpenState} trial calls through and closes or re-opens on their outcome.
 *
 * <p>An immutable value, thread-safe; the compact constructor validates every field and names it in
 * its message.
 *
 * @param failureRatePercent failure rate that opens the breaker, in {@code (0, 100]}
 * @param slidingWindowSize calls the failure rate is computed over, in {@code [1, 10,000]}
 * @param minimumCalls calls needed before the rate counts, in {@code [1, slidingWindowSize]}
 * @param waitInOpenState how long the breaker stays open before trial calls, in {@code [1 ms, 1 day]}
 * @param callsInHalfOpenState trial calls let through when half-open, in {@code [1, 10,000]}
 */
public record CircuitBreakerPolicy(
        float failureRatePercent,
        int slidingWindowSize,
        int minimumCalls,
        Duration waitInOpenState,
        int callsInHalfOpenState) {

    /**
     * The largest {@code slidingWindowSize} and {@code callsInHalfOpenState}: Resilience4j allocates
     * its window (and its half-open window) up front, so a size of {@code Integer.MAX_VALUE} ran the
     * JVM out of memory when the guard was built.
     */
    public static final int MAX_CALLS = 10_000;

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException naming the field and value if one is out of range
     * @throws NullPointerException if {@code waitInOpenState} is null
     */
    public CircuitBreakerPolicy {
        if (!(failureRatePercent > 0 && failureRatePercent <= 100)) {
            throw new IllegalArgumentException("failureRatePercent must be in (0, 100], got " + failureRatePercent);
        }
        if (slidingWindowSize < 1 || slidingWindowSize > MAX_CALLS) {
            throw new IllegalArgumentException(
                    "slidingWindowSize must be in [1, " + MAX_CALLS + "], got " + slidingWindowSize);
        }
        if (minimumCalls < 1 || minimumCalls > slidingWindowSize) {
            throw new IllegalArgumentException(
                    "minimumCalls must be in [1, slidingWindowSize=" + slidingWindowSize + "], got " + minimumCalls);
        }
        Objects.requireNonNull(waitInOpenState, "waitInOpenState");
        if (waitInOpenState.compareTo(Duration.ofMillis(1)) < 0 || waitInOpenState.compareTo(Duration.ofDays(1)) > 0) {
            // Resilience4j needs at least 1 ms, and overflows on durations near Long.MAX_VALUE seconds
            throw new IllegalArgumentException("waitInOpenState must be in [1ms, 1d], got " + waitInOpenState);
        }
        if (callsInHalfOpenState < 1 || callsInHalfOpenState > MAX_CALLS) {
            throw new IllegalArgumentException(
                    "callsInHalfOpenState must be in [1, " + MAX_CALLS + "], got " + callsInHalfOpenState);
        }
    }

    /**
     * Returns the defaults: opens at 50% failures over the last 50 calls once 20 were seen, stays open
     * 30 s, then tries 5 calls.
     *
     * @return the default policy
     */
    public static CircuitBreakerPolicy defaults() {
        return new CircuitBreakerPolicy(50, 50, 20, Duration.ofSeconds(30), 5);
    }
}
