package dev.headroom.ratelimit.internal;

import dev.headroom.ratelimit.Decision;
import java.time.Duration;

/**
 * One key's token bucket in this JVM: per bandwidth, its tokens scaled by the period in
 * microseconds (so a greedy refill is {@code elapsed * refill tokens}, an exact integer) and when it
 * was last refilled. The arithmetic is the Redis script's ({@code token_bucket.lua}), so a key
 * decides the same in both stores; {@code KeyBucketTest} checks it against Bucket4j's buckets.
 *
 * <p>Why not Bucket4j's bucket, which the limiter used before: a key costs 32 bytes of state here
 * (one bandwidth) against about 100 for Bucket4j's bucket and its state array, and a decision
 * allocates no probe. Thread-safe: a decision holds the bucket's monitor for a few arithmetic
 * operations, never across anything that blocks.
 */
public class KeyBucket {
    private final BucketPlan plan;

    /** The first bandwidth's scaled tokens and last refill (most policies have only one). */
    private long tokens;

    private long last;

    /**
     * A full bucket.
     *
     * @param plan the compiled policy
     * @param nowNanos the ticker's reading
     * @return a bucket with every bandwidth full
     */
    public static KeyBucket full(BucketPlan plan, long nowNanos) {
        return plan.bandwidths == 1 ? new KeyBucket(plan, nowNanos) : new Several(plan, nowNanos);
    }

    private KeyBucket(BucketPlan plan, long nowNanos) {
        this.plan = plan;
        this.tokens = plan.scaledCapacity[0];
        this.last = Math.floorDiv(nowNanos, 1_000L);
    }

    /**
     * A bucket of two or more bandwidths: the others' state in an array, so that a one-bandwidth
     * bucket (most keys) carries no reference to one (32 bytes instead of 40).
     */
    private static final class Several extends KeyBucket {
        /** Scaled tokens and last refill of bandwidths 1.., in pairs. */
        private final long[] more;

        Several(BucketPlan plan, long nowNanos) {
            super(plan, nowNanos);
            long now = Math.floorDiv(nowNanos, 1_000L);
            long[] m = new long[2 * (plan.bandwidths - 1)];
            for (int i = 1; i < plan.bandwidths; i++) {
                m[2 * (i - 1)] = plan.scaledCapacity[i];
                m[2 * (i - 1) + 1] = now;
            }
            this.more = m;
        }

        @Override
        long[] morePairs() {
            return more;
        }
    }

    /** The compiled policy this bucket follows. */
    public BucketPlan plan() {
        return plan;
    }

    /**
     * Takes {@code permits} from every bandwidth if every one has them (and, for a shedable request,
     * its reserve beyond them); takes nothing otherwise.
     *
     * @param permits at least 1, at most the smallest capacity
     * @param shedable whether the reserve must be left
     * @param nowNanos the ticker's reading; a reading older than the last one refills nothing
     * @return the decision, on this bucket's policy
     */
    public Decision decide(long permits, boolean shedable, long nowNanos) {
        long now = Math.floorDiv(nowNanos, 1_000L);
        long remaining = Long.MAX_VALUE;
        long retry = 0;
        long reset = 0;
        boolean allowed;
        synchronized (this) {
            allowed = refillAndCheck(permits, shedable, now);
            for (int i = 0; i < plan.bandwidths; i++) {
                long p = plan.periodMicros[i];
                long tk = tokens(i);
                if (allowed) {
                    tk -= permits * p;
                    setTokens(i, tk);
                } else {
                    long need = (permits + (shedable ? plan.reserve[i] : 0)) * p;
                    retry = Math.max(retry, need > plan.scaledCapacity[i] ? Long.MAX_VALUE : until(i, need, now));
                }
                remaining = Math.min(remaining, tk / p);
                reset = Math.max(reset, until(i, plan.scaledCapacity[i], now));
            }
        }
        return new Decision(allowed, remaining, duration(retry), duration(reset), plan.policy, false);
    }

    /**
     * {@link #decide} without its details: whether the permits were taken.
     *
     * @param permits at least 1, at most the smallest capacity
     * @param shedable whether the reserve must be left
     * @param nowNanos the ticker's reading
     * @return whether they were taken
     */
    public boolean take(long permits, boolean shedable, long nowNanos) {
        long now = Math.floorDiv(nowNanos, 1_000L);
        synchronized (this) {
            boolean allowed = refillAndCheck(permits, shedable, now);
            if (allowed) {
                for (int i = 0; i < plan.bandwidths; i++) {
                    setTokens(i, tokens(i) - permits * plan.periodMicros[i]);
                }
            }
            return allowed;
        }
    }

    /** Refills every bandwidth to {@code now}; whether each holds the permits (and the reserve). */
    private boolean refillAndCheck(long permits, boolean shedable, long now) {
        boolean allowed = true;
        for (int i = 0; i < plan.bandwidths; i++) {
            refill(i, now);
            if (tokens(i) < (permits + (shedable ? plan.reserve[i] : 0)) * plan.periodMicros[i]) {
                allowed = false;
            }
        }
        return allowed;
    }

    private void refill(int i, long now) {
        long tk = tokens(i);
        long ls = lastRefill(i);
        long elapsed = now - ls;
        if (elapsed <= 0) {
            return;
        }
        long cap = plan.scaledCapacity[i];
        long gap = cap - tk;
        long r = plan.refill[i];
        if (plan.greedy[i]) {
            if (gap > 0) {
                // elapsed * r < gap + r < 2^54 when it is below the time to fill: no overflow
                tk = elapsed >= ceilDiv(gap, r) ? cap : tk + elapsed * r;
            }
            set(i, tk, now);
        } else {
            long p = plan.periodMicros[i];
            long periods = elapsed / p;
            if (periods > 0) {
                long perPeriod = r * p;
                tk = gap <= 0 || periods >= ceilDiv(gap, perPeriod) ? cap : tk + periods * perPeriod;
                set(i, tk, ls + periods * p);
            }
        }
    }

    /** Microseconds until bandwidth {@code i} holds {@code scaled} tokens (0 if it does). */
    private long until(int i, long scaled, long now) {
        long deficit = scaled - tokens(i);
        if (deficit <= 0) {
            return 0;
        }
        long r = plan.refill[i];
        if (plan.greedy[i]) {
            return ceilDiv(deficit, r);
        }
        long p = plan.periodMicros[i];
        return Math.max(0, lastRefill(i) + ceilDiv(deficit, r * p) * p - now);
    }

    private long tokens(int i) {
        return i == 0 ? tokens : morePairs()[2 * (i - 1)];
    }

    private long lastRefill(int i) {
        return i == 0 ? last : morePairs()[2 * (i - 1) + 1];
    }

    private void setTokens(int i, long tk) {
        if (i == 0) {
            tokens = tk;
        } else {
            morePairs()[2 * (i - 1)] = tk;
        }
    }

    private void set(int i, long tk, long ls) {
        if (i == 0) {
            tokens = tk;
            last = ls;
        } else {
            long[] m = morePairs();
            m[2 * (i - 1)] = tk;
            m[2 * (i - 1) + 1] = ls;
        }
    }

    /** The other bandwidths' state; a one-bandwidth bucket has none (its plan never asks). */
    long[] morePairs() {
        throw new IllegalStateException("bandwidth index beyond the first of a one-bandwidth bucket");
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static Duration duration(long micros) {
        if (micros == 0) {
            return Duration.ZERO;
        }
        return Duration.ofNanos(micros > Long.MAX_VALUE / 1_000L ? Long.MAX_VALUE : micros * 1_000L);
    }
}
