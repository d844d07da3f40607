package dev.headroom.resilience.internal;

/**
 * A delay-gradient limit in the spirit of TCP Vegas and Netflix's Gradient2: it compares the recent
 * latency with the dependency's latency without queueing and scales the limit by their ratio, plus a
 * small allowance for queueing:
 *
 * <pre>
 *   rtt      = moving average of the samples over about one round trip (at least 16 samples)
 *   baseline = lowest rtt seen (drifting up slowly)
 *   gradient = clamp(tolerance * baseline / rtt, 0.5, 1)
 *   target   = limit * gradient + queueSize
 *   limit    = limit + (target - limit) * smoothing / limit     (per sample: ~smoothing per round trip)
 * </pre>
 *
 * <p>While latency stays at the baseline the limit grows by about {@code queueSize * smoothing} per
 * round trip; once latency rises with concurrency (a knee), it settles where {@code limit - queueSize}
 * calls are served without queueing, about {@code knee + queueSize}. Failures multiply the limit by
 * 0.9, at most once per window as in {@link AimdLimit}.
 *
 * <p>Both sides of the ratio are averages, never single samples: a baseline taken from the single
 * fastest reply reads ordinary latency spread as queueing (replies varying by ±10% held the limit at
 * 41 for a knee of 100), and one reply ten times faster than the rest (a cached answer, an early
 * error) anchored it for good (8 for a knee of 100). The baseline is the lowest value the moving
 * average reached; it rises slowly on its own ({@code baselineDriftPerSample}), so a dependency that
 * becomes slower for good is re-learnt rather than starved.
 *
 * <p>Samples of calls that found the limit mostly unused ({@code inFlight < limit / 2}) may lower the
 * limit but never raise it: an idle guard must not grow a limit it has never tested.
 */
public final class GradientLimit implements LimitAlgorithm {
    private static final double DROP_RATIO = 0.9;
    /** The fewest samples the latency average spans, so that a small limit still averages. */
    private static final int MIN_AVERAGED_SAMPLES = 16;

    private final int minLimit;
    private final int maxLimit;
    private final double tolerance;
    private final double queueSize;
    private final double smoothing;
    private final double baselineDriftPerSample;
    private double limit;
    private double baselineNanos = Double.MAX_VALUE;
    private double averageRttNanos;
    private long samples;
    private long lastDecreaseNanos;
    private boolean decreased;

    public GradientLimit(
            int initialLimit,
            int minLimit,
            int maxLimit,
            double tolerance,
            int queueSize,
            double smoothing,
            double baselineDriftPerSample) {
        this.minLimit = minLimit;
        this.maxLimit = maxLimit;
        this.tolerance = tolerance;
        this.queueSize = queueSize;
        this.smoothing = smoothing;
        this.baselineDriftPerSample = baselineDriftPerSample;
        this.limit = initialLimit;
    }

    @Override
    public int initialLimit() {
        return (int) limit;
    }

    @Override
    public int onSample(long startNanos, long rttNanos, int inFlight, boolean dropped) {
        if (dropped) {
            if (!decreased || startNanos - lastDecreaseNanos >= 0) {
                limit = Math.max(minLimit, limit * DROP_RATIO);
                lastDecreaseNanos = startNanos + rttNanos;
                decreased = true;
            }
            return (int) limit;
        }
        double sample = Math.max(1, rttNanos);
        // about `limit` samples arrive per round trip: average over one round trip's worth; the first
        // ones make a plain mean, so that the first sample's own noise does not become the baseline
        samples++;
        double span = Math.min(samples, Math.max(MIN_AVERAGED_SAMPLES, limit));
        averageRttNanos += (sample - averageRttNanos) / span;
        double rtt = averageRttNanos;
        if (samples < MIN_AVERAGED_SAMPLES) {
            return (int) limit; // no baseline yet: nothing to compare with
        }
        baselineNanos = Math.min(rtt, baselineNanos * (1 + baselineDriftPerSample));
        double gradient = Math.max(0.5, Math.min(1.0, tolerance * baselineNanos / rtt));
        double target = limit * gradient + queueSize;
        if (target > limit && inFlight * 2 < limit) {
            return (int) limit; // app-limited: no evidence the dependency takes more
        }
        // about `limit` samples arrive per round trip: moving by smoothing/limit per sample moves the
        // limit by about `smoothing` of the way per round trip, slow enough that the samples of calls
        // admitted under the old limit (one round trip late) cannot make it overshoot and oscillate
        limit += (target - limit) * (smoothing / Math.max(1, limit));
        limit = Math.max(minLimit, Math.min(maxLimit, limit));
        return (int) limit;
    }
}
