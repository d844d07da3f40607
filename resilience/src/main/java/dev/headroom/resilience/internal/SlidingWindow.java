package dev.headroom.resilience.internal;

import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A count of events over the last {@code window} of ticker time, in {@code buckets} slices: an event
 * stops counting between {@code window - window/buckets} and {@code window} after it happened.
 *
 * <p>Thread-safe. Adding is lock-free (a {@link LongAdder} per slice) except when a slice is recycled
 * for a new period, which takes a short lock. An add that races with the recycling of its own slice
 * may be lost: the window can under-count, never over-count. Not API.
 */
public final class SlidingWindow {
    private final long bucketNanos;
    private final int buckets;
    private final AtomicLongArray periods;
    private final LongAdder[] counts;
    private final ReentrantLock recycling = new ReentrantLock();

    public SlidingWindow(long windowNanos, int buckets) {
        this.buckets = buckets;
        this.bucketNanos = Math.max(1, windowNanos / buckets);
        this.periods = new AtomicLongArray(buckets);
        this.counts = new LongAdder[buckets];
        for (int i = 0; i < buckets; i++) {
            periods.set(i, Long.MIN_VALUE);
            counts[i] = new LongAdder();
        }
    }

    /** Counts {@code n} events at time {@code nowNanos}. */
    public void add(long nowNanos, long n) {
        long period = Math.floorDiv(nowNanos, bucketNanos);
        int slot = (int) Math.floorMod(period, (long) buckets);
        if (periods.get(slot) != period) {
            recycle(slot, period);
        }
        counts[slot].add(n);
    }

    /** Returns the events counted in the window that ends at {@code nowNanos}. */
    public long sum(long nowNanos) {
        long period = Math.floorDiv(nowNanos, bucketNanos);
        long total = 0;
        for (int i = 0; i < buckets; i++) {
            long p = periods.get(i);
            if (p != Long.MIN_VALUE && p > period - buckets && p <= period) {
                total += counts[i].sum();
            }
        }
        return total;
    }

    private void recycle(int slot, long period) {
        recycling.lock();
        try {
            if (periods.get(slot) < period) {
                counts[slot].reset();
                periods.set(slot, period);
            }
        } finally {
            recycling.unlock();
        }
    }
}
