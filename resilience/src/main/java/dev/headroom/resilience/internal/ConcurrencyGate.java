package dev.headroom.resilience.internal;

import dev.headroom.core.Criticality;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The guard's bulkhead: a count of calls in flight against a limit (fixed or adaptive), with a lower
 * ceiling for less critical work. SHEDDABLE work is admitted while fewer than {@code limit *
 * sheddableShare} calls are in flight, DEFAULT while fewer than {@code limit * defaultShare},
 * CRITICAL while fewer than {@code limit}. Admission is one compare-and-set on the count, so the
 * ceilings hold exactly however many threads race: less critical work can never take the capacity
 * kept for more critical work.
 *
 * <p>Why not Resilience4j's {@code SemaphoreBulkhead}: its {@code changeConfig} shrinks by acquiring
 * permits uninterruptibly under a monitor (it blocks until calls finish), which an adaptive limit
 * changing on every sample cannot afford, and a semaphore cannot check a per-criticality ceiling and
 * take a permit in one atomic step.
 *
 * <p>Thread-safe and lock-free on admission; releasing takes a lock only to feed an adaptive
 * algorithm, and only if no other thread holds it (a sample that finds it busy is skipped, never
 * waited for). Not API.
 */
public final class ConcurrencyGate {
    /** {@link #tryAcquire} result: the limit itself is reached. */
    public static final int FULL = -1;
    /** {@link #tryAcquire} result: below the limit, but above this criticality's ceiling. */
    public static final int SHED = -2;

    private final AtomicInteger inFlight = new AtomicInteger();
    private final LimitAlgorithm algorithm;
    private final boolean adaptive;
    private final double sheddableShare;
    private final double defaultShare;
    private final ReentrantLock sampling = new ReentrantLock();
    private volatile int limit;
    private volatile int defaultCeiling;
    private volatile int sheddableCeiling;

    public ConcurrencyGate(LimitAlgorithm algorithm, double sheddableShare, double defaultShare) {
        this.algorithm = algorithm;
        this.adaptive = algorithm.isAdaptive();
        this.sheddableShare = sheddableShare;
        this.defaultShare = defaultShare;
        setLimit(algorithm.initialLimit());
    }

    /**
     * Takes a slot if the criticality's ceiling allows.
     *
     * @return the calls in flight once admitted, this one included (at least 1), or {@link #FULL} or
     *     {@link #SHED}
     */
    public int tryAcquire(Criticality criticality) {
        int ceiling = switch (criticality) {
            case CRITICAL -> limit;
            case DEFAULT -> defaultCeiling;
            case SHEDDABLE -> sheddableCeiling;
        };
        while (true) {
            int current = inFlight.get();
            if (current >= ceiling) {
                return current >= limit ? FULL : SHED;
            }
            if (inFlight.compareAndSet(current, current + 1)) {
                return current + 1;
            }
        }
    }

    /** Whether samples feed an adaptive limit (callers skip reading the clock otherwise). */
    public boolean isAdaptive() {
        return adaptive;
    }

    /** Returns the calls in flight, the caller included, right after it was admitted. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Gives a slot back and, for an adaptive limit, feeds the call's outcome to the algorithm.
     *
     * @param startNanos when the call started
     * @param rttNanos how long it ran
     * @param inFlightAtStart calls in flight when it was admitted
     * @param dropped whether it failed or timed out
     */
    public void release(long startNanos, long rttNanos, int inFlightAtStart, boolean dropped) {
        inFlight.decrementAndGet();
        if (adaptive && sampling.tryLock()) {
            try {
                int next = algorithm.onSample(startNanos, rttNanos, inFlightAtStart, dropped);
                if (next != limit) {
                    setLimit(next);
                }
            } finally {
                sampling.unlock();
            }
        }
    }

    /** Gives a slot back without a sample (the call never ran). */
    public void releaseUnused() {
        inFlight.decrementAndGet();
    }

    /** Returns the current limit. */
    public int limit() {
        return limit;
    }

    private void setLimit(int newLimit) {
        defaultCeiling = ceiling(newLimit, defaultShare);
        sheddableCeiling = ceiling(newLimit, sheddableShare);
        limit = newLimit;
    }

    /** At least one slot per class, so a guard with a tiny limit still serves everyone when idle. */
    private static int ceiling(int limit, double share) {
        return Math.max(1, (int) Math.floor(limit * share));
    }
}
