package dev.headroom.resilience.internal;

import java.util.random.RandomGenerator;

/**
 * Client-side adaptive throttling from Google's SRE book ("Handling Overload"): over a sliding
 * window the client counts the requests it tried and the ones the dependency accepted, and rejects
 * a new request locally with probability {@code max(0, (requests - K * accepts) / (requests + 1))}.
 * While the dependency accepts everything nothing is rejected; as it starts refusing, the client
 * sends it roughly K times what it accepts, keeping enough traffic to notice recovery.
 *
 * <p>Thread-safe, lock-free except when a window slice is recycled. Not API.
 */
public final class AdaptiveThrottle {
    private final SlidingWindow requests;
    private final SlidingWindow accepts;
    private final double k;
    private final RandomGenerator random;

    public AdaptiveThrottle(double k, long windowNanos, RandomGenerator random) {
        this.requests = new SlidingWindow(windowNanos, 10);
        this.accepts = new SlidingWindow(windowNanos, 10);
        this.k = k;
        this.random = random;
    }

    /**
     * Decides whether to refuse a request locally; a refused request counts as a request (as in the
     * book: that is what keeps the probability up while the dependency refuses).
     *
     * @return true if the request must be rejected locally
     */
    public boolean reject(long nowNanos) {
        double req = requests.sum(nowNanos);
        double p = (req - k * accepts.sum(nowNanos)) / (req + 1);
        if (p > 0 && random.nextDouble() < p) {
            requests.add(nowNanos, 1);
            return true;
        }
        return false;
    }

    /**
     * Counts a request sent to the dependency. Requests the guard's own breaker or bulkhead refused are
     * not counted: they say nothing about what the dependency accepts.
     */
    public void sent(long nowNanos) {
        requests.add(nowNanos, 1);
    }

    /** Counts a request the dependency accepted (it succeeded). */
    public void accepted(long nowNanos) {
        accepts.add(nowNanos, 1);
    }

    /** Returns the current rejection probability (for a gauge). */
    public double rejectionProbability(long nowNanos) {
        double req = requests.sum(nowNanos);
        return Math.max(0, (req - k * accepts.sum(nowNanos)) / (req + 1));
    }
}
