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
        return (long) Math.ceil(fraction * 1_000_000);
    }

    /** The tokens reserved of {@code capacity}, rounded up. */
    public static long tokens(long capacity, long millionths) {
        return (long) Math.ceil(capacity * (millionths / 1e6));
    }

    /** Whether the current request may be shed first. */
    public static boolean shedable() {
        return RequestContext.current().criticality() == Criticality.SHEDDABLE;
    }
}
