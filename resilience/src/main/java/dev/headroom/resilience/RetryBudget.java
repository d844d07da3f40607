package dev.headroom.resilience;

import java.time.Duration;
import java.util.Objects;

/**
 * How many retries all calls through one {@link Guard} may make together, in the manner of Finagle's
 * and Envoy's retry budgets: over the last {@code window}, at most {@code ratio} retries per call made
 * plus {@code minRetriesPerSecond} per second of the window (so that a quiet guard can still retry).
 * A dependency that fails every call therefore receives at most about {@code (1 + ratio)} times the
 * calls it would receive without retries, however many attempts the {@link dev.headroom.core.Backoff}
 * allows each call. A retry the budget refuses is not made: the caller gets the attempt's own failure.
 *
 * <p>An immutable value, thread-safe; the compact constructor validates every field and names it in
 * its message.
 *
 * @param ratio retries allowed per call made, in {@code [0, 10]}; 0.2 means 20%
 * @param minRetriesPerSecond retries allowed per second of the window whatever the traffic, {@code >= 0}
 * @param window how far back calls and retries count, at least 1 s
 */
public record RetryBudget(double ratio, int minRetriesPerSecond, Duration window) {

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException naming the field and value if one is out of range
     * @throws NullPointerException if {@code window} is null
     */
    public RetryBudget {
        if (!(ratio >= 0 && ratio <= 10)) {
            throw new IllegalArgumentException("ratio must be in [0, 10], got " + ratio);
        }
        if (minRetriesPerSecond < 0) {
            throw new IllegalArgumentException("minRetriesPerSecond must be >= 0, got " + minRetriesPerSecond);
        }
        Objects.requireNonNull(window, "window");
        if (window.compareTo(Duration.ofSeconds(1)) < 0 || window.compareTo(Duration.ofDays(1)) > 0) {
            throw new IllegalArgumentException("window must be in [1s, 1d], got " + window);
        }
    }

    /**
     * Returns Finagle's defaults: 20% of calls, 10 retries per second, over 10 s.
     *
     * @return the default budget
     */
    public static RetryBudget defaults() {
        return new RetryBudget(0.2, 10, Duration.ofSeconds(10));
    }
}
