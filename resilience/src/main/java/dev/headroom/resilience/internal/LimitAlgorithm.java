package dev.headroom.resilience.internal;

/**
 * Turns completed calls into a concurrency limit. Called by {@link ConcurrencyGate} under its lock
 * (one sample at a time), so implementations need no synchronisation of their own. Not API.
 */
public interface LimitAlgorithm {

    /** Returns the limit before any sample. */
    int initialLimit();

    /**
     * Records one completed call and returns the new limit.
     *
     * @param startNanos ticker reading when the call started
     * @param rttNanos how long it took
     * @param inFlight calls in flight when it started, itself included
     * @param dropped whether it failed or timed out (a sign of overload)
     * @return the limit to apply from now on
     */
    int onSample(long startNanos, long rttNanos, int inFlight, boolean dropped);

    /** A limit that never changes: the classic semaphore bulkhead. */
    static LimitAlgorithm fixed(int limit) {
        return new LimitAlgorithm() {
            @Override
            public int initialLimit() {
                return limit;
            }

            @Override
            public int onSample(long startNanos, long rttNanos, int inFlight, boolean dropped) {
                return limit;
            }

            @Override
            public boolean isAdaptive() {
                return false;
            }
        };
    }

    /** Whether samples can change the limit; a fixed limit skips sampling on the hot path. */
    default boolean isAdaptive() {
        return true;
    }
}
