package dev.headroom.resilience.internal;

/**
 * Additive increase, multiplicative decrease, as TCP Reno does it: the limit grows by about one per
 * round trip (1/limit per sample) while calls are fast and the limit is in use, and is multiplied by
 * {@code backoffRatio} when a call fails, times out or takes longer than {@code latencyThreshold}.
 *
 * <p>A decrease happens at most once per "window": samples of calls that started before the last
 * decrease do not decrease again, since they were admitted under the old limit. Without that, one
 * burst of slow replies would cut the limit once per reply, far below the knee.
 */
public final class AimdLimit implements LimitAlgorithm {
    private final int minLimit;
    private final int maxLimit;
    private final double backoffRatio;
    private final long latencyThresholdNanos;
    private double limit;
    private long lastDecreaseNanos = Long.MIN_VALUE;
    private boolean decreased;

    public AimdLimit(int initialLimit, int minLimit, int maxLimit, double backoffRatio, long latencyThresholdNanos) {
        this.minLimit = minLimit;
        this.maxLimit = maxLimit;
        this.backoffRatio = backoffRatio;
        this.latencyThresholdNanos = latencyThresholdNanos;
        this.limit = initialLimit;
    }

    @Override
    public int initialLimit() {
        return (int) limit;
    }

    @Override
    public int onSample(long startNanos, long rttNanos, int inFlight, boolean dropped) {
        if (dropped || rttNanos > latencyThresholdNanos) {
            if (!decreased || startNanos - lastDecreaseNanos >= 0) {
                limit = Math.max(minLimit, Math.min(limit - 1, limit * backoffRatio));
                lastDecreaseNanos = startNanos + rttNanos;
                decreased = true;
            }
        } else if (inFlight * 2 >= (int) limit) {
            limit = Math.min(maxLimit, limit + 1.0 / limit);
        }
        return (int) limit;
    }
}
