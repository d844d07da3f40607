package dev.headroom.resilience.internal;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A retry budget shared by every call through one guard, as Finagle and Envoy keep one: over the last
 * {@code window}, retries may number at most {@code ratio} times the calls made plus {@code
 * minPerSecond} per second of the window. A dependency that fails every call therefore sees at most
 * {@code (1 + ratio)} times the load it would see without retries (plus the small floor), however
 * many attempts each call's backoff allows.
 *
 * <p>Arithmetic is in thousandths of a retry, so the bound is exact: with ratio 0.2, a floor of 10 per
 * second and a window of 10 s, 1,000 failing calls in one window get exactly 300 retries.
 *
 * <p>Thread-safe. Counting a call is lock-free; taking a retry from the budget is a short lock, so
 * that two racing retries cannot both take the last one. Not API.
 */
public final class RetryAllowance {
    private final SlidingWindow calls;
    private final SlidingWindow retries;
    private final long ratioMillis;
    private final long floorMillis;
    private final ReentrantLock withdrawing = new ReentrantLock();

    public RetryAllowance(double ratio, int minPerSecond, long windowNanos) {
        this.calls = new SlidingWindow(windowNanos, 10);
        this.retries = new SlidingWindow(windowNanos, 10);
        this.ratioMillis = Math.round(ratio * 1000);
        // minPerSecond * windowSeconds retries, in thousandths, without overflow for sane windows
        this.floorMillis = Math.round(minPerSecond * (windowNanos / 1e9) * 1000);
    }

    /** Counts a call (not a retry) made at {@code nowNanos}. */
    public void onCall(long nowNanos) {
        calls.add(nowNanos, 1);
    }

    /**
     * Takes one retry from the budget if there is one.
     *
     * @return whether the retry may be made
     */
    public boolean tryRetry(long nowNanos) {
        withdrawing.lock();
        try {
            long allowance = floorMillis + ratioMillis * calls.sum(nowNanos);
            if ((retries.sum(nowNanos) + 1) * 1000 > allowance) {
                return false;
            }
            retries.add(nowNanos, 1);
            return true;
        } finally {
            withdrawing.unlock();
        }
    }

    /** Returns the retries still available at {@code nowNanos} (for a gauge). */
    public double available(long nowNanos) {
        return Math.max(0, (floorMillis + ratioMillis * calls.sum(nowNanos)) / 1000.0 - retries.sum(nowNanos));
    }
}
