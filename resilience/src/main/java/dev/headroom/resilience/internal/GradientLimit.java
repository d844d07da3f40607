package dev.headroom.resilience.internal;

/**
 * A delay-gradient limit in the spirit of TCP Vegas and Netflix's Gradient2: it compares the recent
 * latency with the dependency's latency without queueing and scales the limit by their ratio, plus a
 * small allowance for queueing:
 *
 * <pre>
 *   rtt      = moving average of the samples over about one round trip (at least 64 samples)
 *   baseline = lowest rtt seen since the last probe, or measured by it
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
 * average reached since the last probe.
 *
 * <p>A probe, every {@code probeInterval} of sample time (the round trips' ends), re-measures the
 * baseline: the limit drops to half for about one round trip, which drains any queue at the
 * dependency, and the average latency of the calls admitted during the probe becomes the baseline;
 * then the limit returns to where it was. Without it, a baseline learnt from a fast start, or from a
 * dependency that later became slower for good, held the limit near 8 for a knee of 100; and a
 * baseline that drifted up per sample instead let the limit double every ~700,000 samples under a
 * steady overload. The probe costs about half a round trip of capacity per interval.
 *
 * <p>Samples of calls that found the limit mostly unused ({@code inFlight < limit / 2}) may lower the
 * limit but never raise it: an idle guard must not grow a limit it has never tested.
 */
public final class GradientLimit implements LimitAlgorithm {
    private static final double DROP_RATIO = 0.9;
    /** The fewest samples the latency average spans, so that a small limit still averages. */
    private static final int MIN_AVERAGED_SAMPLES = 64;

    private final int minLimit;
    private final int maxLimit;
    private final double tolerance;
    private final double queueSize;
    private final double smoothing;
    private final long probeIntervalNanos;
    private double limit;
    private double baselineNanos = Double.MAX_VALUE;
    private double averageRttNanos;
    private long samples;
    private long lastDecreaseNanos;
    private boolean decreased;
    private long nextProbeNanos;
    private boolean probing;
    private long probeStartNanos;
    private double limitBeforeProbe;
    private double probeSumNanos;
    private int probeSamples;
    private int probeSamplesNeeded;

    public GradientLimit(
            int initialLimit,
            int minLimit,
            int maxLimit,
            double tolerance,
            int queueSize,
            double smoothing,
            long probeIntervalNanos) {
        this.minLimit = minLimit;
        this.maxLimit = maxLimit;
        this.tolerance = tolerance;
        this.queueSize = queueSize;
        this.smoothing = smoothing;
        this.probeIntervalNanos = probeIntervalNanos;
        this.limit = initialLimit;
    }

    @Override
    public int initialLimit() {
        return (int) limit;
    }

    @Override
    public int onSample(long startNanos, long rttNanos, int inFlight, boolean dropped) {
        if (probing) {
            return probe(startNanos, rttNanos, dropped);
        }
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
        long now = startNanos + rttNanos;
        if (baselineNanos == Double.MAX_VALUE) {
            nextProbeNanos = now + probeIntervalNanos;
        } else if (now - nextProbeNanos >= 0) {
            probing = true;
            probeStartNanos = now;
            limitBeforeProbe = limit;
            limit = Math.max(minLimit, limit / 2);
            probeSumNanos = 0;
            probeSamples = 0;
            probeSamplesNeeded = (int) Math.max(MIN_AVERAGED_SAMPLES, limit); // about one round trip
            return (int) limit;
        }
        baselineNanos = Math.min(rtt, baselineNanos);
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

    /**
     * A sample during a probe: only calls admitted after it began count (the others queued behind
     * the old limit); once about a round trip of them has ended, their mean is the new baseline.
     */
    private int probe(long startNanos, long rttNanos, boolean dropped) {
        if (!dropped && startNanos - probeStartNanos >= 0) {
            probeSumNanos += Math.max(1, rttNanos);
            probeSamples++;
            if (probeSamples >= probeSamplesNeeded) {
                baselineNanos = probeSumNanos / probeSamples;
                limit = limitBeforeProbe;
                probing = false;
                nextProbeNanos = startNanos + rttNanos + probeIntervalNanos;
            }
        }
        return (int) limit;
    }
}
