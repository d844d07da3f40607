package dev.headroom.ratelimit;

import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * Per-key token-bucket rate limiting. Each key has its own bucket under the policy the limiter
 * resolves for it; a decision takes the permits from every bandwidth of the policy or from none.
 *
 * <p>Keys are caller-chosen strings (an API key, a user id, a client address) of 1 to {@value
 * #MAX_KEY_LENGTH} characters; null, empty or longer keys are refused with an exception naming the
 * problem. Implementations are thread-safe.
 */
public interface RateLimiter {

    /** The longest key accepted, in characters. */
    int MAX_KEY_LENGTH = 512;

    /**
     * Takes one permit for {@code key} if available.
     *
     * @param key the key
     * @return the decision; never throws for an unreachable store (see the implementation's failure mode)
     */
    default Decision tryAcquire(String key) {
        return tryAcquire(key, 1);
    }

    /**
     * Takes {@code permits} for {@code key} if all are available, none otherwise.
     *
     * @param key the key
     * @param permits at least 1, at most the policy's smallest capacity
     * @return the decision
     * @throws IllegalArgumentException for a bad key, or permits out of range for the key's policy
     */
    Decision tryAcquire(String key, long permits);

    /**
     * {@link #tryAcquire(String, long)} answering only whether the permits were taken, for callers
     * that need no headers or retry-after (a consumer throttling itself, sampling): the same
     * decision, the same metrics. {@link LocalRateLimiter} allocates nothing for a key it holds;
     * the default builds the {@link Decision} and reads it.
     *
     * @param key the key
     * @param permits at least 1, at most the policy's smallest capacity
     * @return whether the permits were taken
     * @throws IllegalArgumentException for a bad key, or permits out of range for the key's policy
     */
    default boolean tryConsume(String key, long permits) {
        return tryAcquire(key, permits).allowed();
    }

    /**
     * {@link #tryAcquire(String, long)} without blocking the caller on the store.
     *
     * @param key the key
     * @param permits at least 1
     * @return the decision; completes exceptionally only for bad input
     */
    CompletionStage<Decision> tryAcquireAsync(String key, long permits);

    /**
     * Waits up to {@code maxWait} for the permits: tries, and when refused with a retry-after within
     * what is left of {@code maxWait}, sleeps that long and tries again.
     *
     * @param key the key
     * @param permits at least 1
     * @param maxWait the most to wait, zero or more
     * @return the last decision: allowed, or refused when the wait would pass {@code maxWait}
     * @throws InterruptedException if interrupted while waiting (nothing was taken)
     */
    default Decision acquire(String key, long permits, Duration maxWait) throws InterruptedException {
        if (maxWait.isNegative()) {
            throw new IllegalArgumentException("maxWait must be >= 0, got " + maxWait);
        }
        long deadline = System.nanoTime() + Math.min(maxWait.toNanos(), Long.MAX_VALUE / 4);
        while (true) {
            Decision d = tryAcquire(key, permits);
            long left = deadline - System.nanoTime();
            if (d.allowed() || d.retryAfter().toNanos() > left || d.degraded()) {
                return d;
            }
            long nanos = Math.max(1, d.retryAfter().toNanos());
            java.util.concurrent.TimeUnit.NANOSECONDS.sleep(nanos);
        }
    }
}
