package dev.headroom.ratelimit;

import java.time.Duration;
import java.util.Objects;

/**
 * One limit of a token bucket: at most {@code capacity} tokens, refilled with {@code refillTokens}
 * every {@code refillPeriod}. A greedy bandwidth refills continuously (a token as soon as its share
 * of the period has passed, as Bucket4j's {@code refillGreedy}); an interval bandwidth adds all
 * {@code refillTokens} at once when a whole period has passed ({@code refillIntervally}), so a
 * window's quota is spent and restored in one piece.
 *
 * <p>Limits are exact integers: the distributed limiter keeps {@code capacity × refillPeriod in
 * microseconds} in a 53-bit integer, so the product must stay below 2<sup>53</sup> (about 9 × 10^15:
 * for example a capacity of 2,500,000 over an hour); larger values are refused here.
 *
 * @param capacity the most tokens the bucket holds, and what a new bucket starts with; at least 1
 * @param refillTokens tokens added per period, at least 1
 * @param refillPeriod the period, at least 1 ms
 * @param greedy true to refill continuously, false to refill whole periods at once
 */
public record Bandwidth(long capacity, long refillTokens, Duration refillPeriod, boolean greedy) {

    /** The largest {@code capacity × refillPeriod in µs} an exact 53-bit integer holds. */
    static final long MAX_SCALED = 1L << 53;

    /**
     * Checks the fields.
     *
     * @throws IllegalArgumentException naming the field that is out of range
     * @throws NullPointerException if {@code refillPeriod} is null
     */
    public Bandwidth {
        Objects.requireNonNull(refillPeriod, "refillPeriod");
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        if (refillTokens < 1) {
            throw new IllegalArgumentException("refillTokens must be >= 1, got " + refillTokens);
        }
        if (refillPeriod.compareTo(Duration.ofMillis(1)) < 0) {
            throw new IllegalArgumentException("refillPeriod must be >= 1 ms, got " + refillPeriod);
        }
        if (refillPeriod.compareTo(Duration.ofDays(3650)) > 0) {
            throw new IllegalArgumentException("refillPeriod must be <= 3650 days, got " + refillPeriod);
        }
        long micros = periodMicros(refillPeriod);
        if (capacity > MAX_SCALED / micros || refillTokens > MAX_SCALED / micros) {
            throw new IllegalArgumentException("capacity (" + capacity + ") and refillTokens (" + refillTokens
                    + ") times refillPeriod in microseconds (" + micros + ") must stay below 2^53"
                    + " for exact integer arithmetic; use a shorter period or fewer tokens");
        }
    }

    /**
     * {@code tokens} per {@code period}, refilled continuously, starting full: the common limit.
     *
     * @param tokens the capacity and the tokens per period
     * @param period the period
     * @return the bandwidth
     */
    public static Bandwidth perPeriod(long tokens, Duration period) {
        return new Bandwidth(tokens, tokens, period, true);
    }

    /**
     * A burst of {@code capacity}, refilled continuously at {@code tokens} per {@code period}.
     *
     * @param capacity the burst
     * @param tokens tokens per period
     * @param period the period
     * @return the bandwidth
     */
    public static Bandwidth greedy(long capacity, long tokens, Duration period) {
        return new Bandwidth(capacity, tokens, period, true);
    }

    /**
     * A fixed window: {@code tokens} every {@code period}, restored all at once when a whole period
     * has passed since the last restore.
     *
     * @param tokens the capacity and the tokens per window
     * @param period the window
     * @return the bandwidth
     */
    public static Bandwidth window(long tokens, Duration period) {
        return new Bandwidth(tokens, tokens, period, false);
    }

    /**
     * The period in whole microseconds, rounded up: the unit of the exact-arithmetic bound and of
     * the distributed limiter's script.
     *
     * @return the period in microseconds, at least 1,000
     */
    public long periodMicros() {
        return periodMicros(refillPeriod);
    }

    private static long periodMicros(Duration d) {
        long micros = d.getSeconds() * 1_000_000L + d.getNano() / 1_000;
        return d.getNano() % 1_000 == 0 ? micros : micros + 1;
    }

    /** How long an empty bucket takes to fill, in microseconds. */
    long fillMicros() {
        long periods = (capacity + refillTokens - 1) / refillTokens;
        if (greedy) {
            // rounded up: a bucket forgotten before it is full would decide differently
            return Math.max(1, (Math.multiplyExact(capacity, periodMicros()) + refillTokens - 1) / refillTokens);
        }
        return Math.multiplyExact(periods, periodMicros());
    }
}
