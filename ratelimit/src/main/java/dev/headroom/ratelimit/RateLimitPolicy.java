package dev.headroom.ratelimit;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A named set of bandwidths applied together to one key: a request is allowed only if every
 * bandwidth has the tokens (for example a burst of 100 and 1,000 an hour). The name identifies the
 * policy in the {@code RateLimit-Policy} and {@code RateLimit} headers and in the distributed
 * limiter's Redis keys, with a fingerprint of its bandwidths: a policy whose bandwidths change (a
 * rolling deploy) gets new buckets rather than reading the old ones.
 *
 * @param name letters, digits and {@code _ - . +}, starting with a letter, 1 to 64 characters
 * @param bandwidths one to eight bandwidths; an unmodifiable copy
 */
public record RateLimitPolicy(String name, List<Bandwidth> bandwidths) {

    private static final Pattern NAME = Pattern.compile("[A-Za-z][A-Za-z0-9_.+-]{0,63}");

    /** The most bandwidths in one policy. */
    public static final int MAX_BANDWIDTHS = 8;

    /**
     * Checks and copies.
     *
     * @throws IllegalArgumentException if the name is not a token or the bandwidths are none or too many
     * @throws NullPointerException if an argument is or holds null
     */
    public RateLimitPolicy {
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("policy name must start with a letter and hold only letters, digits"
                    + " and _ . + - (1-64 characters), got '" + name + "'");
        }
        bandwidths = List.copyOf(bandwidths);
        if (bandwidths.isEmpty() || bandwidths.size() > MAX_BANDWIDTHS) {
            throw new IllegalArgumentException(
                    "a policy needs 1 to " + MAX_BANDWIDTHS + " bandwidths, got " + bandwidths.size());
        }
    }

    /**
     * A policy of the given bandwidths.
     *
     * @param name the policy name
     * @param bandwidths one or more
     * @return the policy
     */
    public static RateLimitPolicy of(String name, Bandwidth... bandwidths) {
        return new RateLimitPolicy(name, List.of(bandwidths));
    }

    /** The smallest capacity: the most permits one request can ever take. */
    public long maxPermits() {
        long min = Long.MAX_VALUE;
        // indexed: an iterator over lists of several shapes defeats escape analysis on hot paths
        for (int i = 0; i < bandwidths.size(); i++) {
            min = Math.min(min, bandwidths.get(i).capacity());
        }
        return min;
    }

    /** The bandwidth the headers describe: the one with the smallest capacity (the first on a tie). */
    public Bandwidth primary() {
        Bandwidth p = bandwidths.get(0);
        for (Bandwidth b : bandwidths) {
            if (b.capacity() < p.capacity()) {
                p = b;
            }
        }
        return p;
    }

    /** How long an empty bucket of this policy takes to fill completely: past it, state is forgettable. */
    public Duration fillTime() {
        long max = 0;
        for (Bandwidth b : bandwidths) {
            max = Math.max(max, b.fillMicros());
        }
        return Duration.ofNanos(Math.multiplyExact(max, 1_000L));
    }
}
