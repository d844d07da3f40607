package dev.headroom.ratelimit.internal;

import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;

/** The criticality reserve shared by the limiters. Not API. */
public final class Reserve {
    private Reserve() {}

    /** Checks a reserve fraction: at least 0, below 1. */
    public static double check(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("reserveForCritical must be in [0, 1), got " + fraction);
        }
        return fraction;
    }

    /** The fraction in millionths, rounded up so that a tiny positive fraction still reserves. */
    public static long millionths(double fraction) {
        // below one whole: a fraction below 1 never reserves a large bucket whole
        return Math.min(999_999, (long) Math.ceil(fraction * 1_000_000));
    }

    /** The tokens reserved of {@code capacity}, rounded up. */
    public static long tokens(long capacity, long millionths) {
        // integers, as the Redis script: in doubles 100 x 0.07 is 7.000000000000001, rounded up to 8.
        // capacity < 2^53 / 1,000 (a period is at least 1 ms): the product stays below 2^63
        return (capacity * millionths + 999_999) / 1_000_000;
    }

    /** Whether the current request may be shed first. */
    public static boolean shedable() {
        return RequestContext.current().criticality() == Criticality.SHEDDABLE;
    }
}
