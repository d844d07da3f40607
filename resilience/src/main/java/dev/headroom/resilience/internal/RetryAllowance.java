package dev.headroom.resilience.internal;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A retry budget shared by every call through one guard, as Finagle and Envoy keep one: over the last
 * {@code window}, retries may number at most {@code ratio} times the calls made plus {@code
 * minPerSecond} per second of the window. A dependency that fails every call therefore sees at most
 * {@code (1 + ratio)} times the load it would see without retries (plus the small floor), however
 * many attempts each call's backoff allows.
 *
 * <p>Arithmetic is in millionths of a retry, so the bound is exact for any ratio given to six decimals:
 * with ratio 0.2, a floor of 10 per second and a window of 10 s, 1,000 failing calls in one window get
 * exactly 300 retries; with ratio 0.0005 and no floor, 4,000 calls get 2 (thousandths rounded that
 * ratio to 0.001, and gave 4).
 *
 * <p>Thread-safe. Counting a call is lock-free; taking a retry from the budget is a short lock, so
 * that two racing retries cannot both take the last one. Not API.
 */
public final class RetryAllowance {
    private final SlidingWindow calls;
    private final SlidingWindow retries;
    private static final long UNIT = 1_000_000;

    private final long ratioMicros;
    private final long floorMicros;
    private final ReentrantLock withdrawing = new ReentrantLock();

    public RetryAllowance(double ratio, int minPerSecond, long windowNanos) {
        this.calls = new SlidingWindow(windowNanos, 10);
        // a window slice stops counting up to one slice early; retries are kept one slice longer, so
        // each counts for at least the whole window and the floor cannot be spent twice within one
        this.retries = new SlidingWindow(windowNanos + windowNanos / 10, 11);
        this.ratioMicros = Math.round(ratio * UNIT);
        // minPerSecond * windowSeconds retries, in millionths; Math.round saturates an absurd floor
        this.floorMicros = Math.round(minPerSecond * (windowNanos / 1e9) * UNIT);
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
            if ((retries.sum(nowNanos) + 1) * UNIT > allowance(nowNanos)) {
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
        return Math.max(0, allowance(nowNanos) / (double) UNIT - retries.sum(nowNanos));
    }

    /** The retries allowed in the window ending at {@code nowNanos}, in millionths, saturating. */
    private long allowance(long nowNanos) {
        long earned = ratioMicros * calls.sum(nowNanos);
        return floorMicros > Long.MAX_VALUE - earned ? Long.MAX_VALUE : floorMicros + earned;
    }
}
