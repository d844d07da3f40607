package dev.headroom.ratelimit;

import java.time.Duration;
import java.util.Objects;

/**
 * The answer to one {@link RateLimiter#tryAcquire} call.
 *
 * @param allowed whether the permits were taken
 * @param remaining permits left after this decision in the tightest bandwidth, zero or more
 * @param retryAfter zero when allowed; otherwise how long until the same request could be allowed,
 *     if nothing else takes tokens meanwhile
 * @param resetAfter how long until the bucket is full again (the header's {@code t})
 * @param policy the policy that decided
 * @param degraded true when the decision was not made by the configured store (Redis unreachable:
 *     a fail-open or fail-closed answer)
 */
public record Decision(
        boolean allowed,
        long remaining,
        Duration retryAfter,
        Duration resetAfter,
        RateLimitPolicy policy,
        boolean degraded) {

    /**
     * Checks the fields.
     *
     * @throws IllegalArgumentException if a number or duration is negative
     * @throws NullPointerException if a field is null
     */
    public Decision {
        Objects.requireNonNull(retryAfter, "retryAfter");
        Objects.requireNonNull(resetAfter, "resetAfter");
        Objects.requireNonNull(policy, "policy");
        if (remaining < 0) {
            throw new IllegalArgumentException("remaining must be >= 0, got " + remaining);
        }
        if (retryAfter.isNegative() || resetAfter.isNegative()) {
            throw new IllegalArgumentException("durations must be >= 0");
        }
    }
}
