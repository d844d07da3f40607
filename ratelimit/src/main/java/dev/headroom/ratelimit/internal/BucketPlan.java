package dev.headroom.ratelimit.internal;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.RateLimitPolicy;
import java.util.List;

/**
 * A policy compiled for {@link KeyBucket}'s arithmetic, shared by every key of the policy: per
 * bandwidth its refill, its period in microseconds, its capacity scaled by that period, and the
 * tokens a shedable request must leave. Immutable, thread-safe.
 */
public final class BucketPlan {
    final RateLimitPolicy policy;
    final int bandwidths;
    final long[] refill;
    final long[] periodMicros;
    final long[] scaledCapacity;
    final boolean[] greedy;
    final long[] reserve;
    final long fillNanos;

    /**
     * Compiles a policy.
     *
     * @param policy the policy
     * @param reserveMillionths the fraction of each capacity a shedable request must leave, in
     *     millionths (0 for none)
     */
    public BucketPlan(RateLimitPolicy policy, long reserveMillionths) {
        this.policy = policy;
        List<Bandwidth> list = policy.bandwidths();
        this.bandwidths = list.size();
        this.refill = new long[bandwidths];
        this.periodMicros = new long[bandwidths];
        this.scaledCapacity = new long[bandwidths];
        this.greedy = new boolean[bandwidths];
        this.reserve = new long[bandwidths];
        for (int i = 0; i < bandwidths; i++) {
            Bandwidth b = list.get(i);
            refill[i] = b.refillTokens();
            periodMicros[i] = b.periodMicros();
            // below 2^53: Bandwidth checks it
            scaledCapacity[i] = b.capacity() * periodMicros[i];
            greedy[i] = b.greedy();
            reserve[i] = Reserve.tokens(b.capacity(), reserveMillionths);
        }
        this.fillNanos = policy.fillTime().toNanos();
    }

    /** The policy compiled. */
    public RateLimitPolicy policy() {
        return policy;
    }

    /** How long a key's bucket takes to fill from empty: after that long idle it can be forgotten. */
    public long fillNanos() {
        return fillNanos;
    }
}
