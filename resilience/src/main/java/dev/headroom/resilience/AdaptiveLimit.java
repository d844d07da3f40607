package dev.headroom.resilience;

import dev.headroom.core.Deadline;
import dev.headroom.resilience.internal.AimdLimit;
import dev.headroom.resilience.internal.GradientLimit;
import dev.headroom.resilience.internal.LimitAlgorithm;
import java.time.Duration;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;

/**
 * A concurrency limit that a {@link Guard} learns from the latency and failures of its calls, in place
 * of a fixed bulkhead size (Netflix concurrency-limits, Envoy adaptive concurrency). Two algorithms:
 *
 * <ul>
 *   <li>{@link #aimd()}: additive increase (about one per round trip while calls are fast and the
 *       limit is in use), multiplicative decrease when a call fails, times out or takes longer than
 *       a latency threshold you choose. Simple and predictable; needs that threshold.
 *   <li>{@link #gradient()}: compares the recent average latency (over about one round trip of
 *       calls) with the lowest that average reached and shrinks the limit by that ratio, so it finds
 *       the concurrency where latency starts to rise (the dependency's knee) without a threshold; it
 *       settles about {@code queueSize} above the knee. Averages, not single replies: replies that
 *       vary by ±10%, or a rare reply ten times faster than the rest, do not move it off the knee
 *       ({@code AdaptiveLimitSimulationTest}). Every 10 s it halves the limit for about one round
 *       trip to re-measure the latency without queueing, so a dependency that became slower for
 *       good is re-learnt, and a steady overload cannot ratchet the baseline up.
 * </ul>
 *
 * <p>Each guard gets its own instance of the algorithm; an {@code AdaptiveLimit} is an immutable,
 * thread-safe description and may be shared between builders. Samples are taken as calls complete; a sample that
 * finds another being taken is skipped rather than waited for, so the hot path never blocks on it.
 */
public final class AdaptiveLimit {

    private enum Kind {
        AIMD,
        GRADIENT
    }

    private final Kind kind;
    private final int initialLimit;
    private final int minLimit;
    private final int maxLimit;
    private final double backoffRatio;
    private final long latencyThresholdNanos;
    private final double tolerance;
    private final int queueSize;
    private final double smoothing;

    private AdaptiveLimit(Builder b) {
        this.kind = b.kind;
        this.initialLimit = b.initialLimit;
        this.minLimit = b.minLimit;
        this.maxLimit = b.maxLimit;
        this.backoffRatio = b.backoffRatio;
        this.latencyThresholdNanos = b.latencyThresholdNanos;
        this.tolerance = b.tolerance;
        this.queueSize = b.queueSize;
        this.smoothing = b.smoothing;
    }

    /**
     * Starts an AIMD limit. Defaults: initial 20, min 1, max 1000, backoff ratio 0.9, latency
     * threshold 1 s.
     *
     * @return a new builder
     */
    public static Builder aimd() {
        return new Builder(Kind.AIMD);
    }

    /**
     * Starts a gradient limit. Defaults: initial 20, min 1, max 1000, tolerance 1.0, queue size 4,
     * smoothing 0.2.
     *
     * @return a new builder
     */
    public static Builder gradient() {
        return new Builder(Kind.GRADIENT);
    }

    /** How often a gradient limit re-measures its baseline latency. */
    static final Duration PROBE_INTERVAL = Duration.ofSeconds(10);

    /** Returns the limit a guard starts with. */
    public int initialLimit() {
        return initialLimit;
    }

    /** A fresh algorithm for one guard. */
    LimitAlgorithm newAlgorithm() {
        return switch (kind) {
            case AIMD -> new AimdLimit(initialLimit, minLimit, maxLimit, backoffRatio, latencyThresholdNanos);
            // the baseline is re-measured every 10 s (a probe at half the limit for one round trip),
            // as BBR re-measures its minimum round trip
            case GRADIENT ->
                new GradientLimit(
                        initialLimit, minLimit, maxLimit, tolerance, queueSize, smoothing, PROBE_INTERVAL.toNanos());
        };
    }

    @Override
    public String toString() {
        return "AdaptiveLimit[" + kind + ", initial=" + initialLimit + ", min=" + minLimit + ", max=" + maxLimit + "]";
    }

    /**
     * Builds an {@link AdaptiveLimit}. Each setter validates its argument and refuses being called
     * twice; setting an option of the other algorithm is refused. Not thread-safe.
     */
    public static final class Builder {
        private final Kind kind;
        private int initialLimit = 20;
        private int minLimit = 1;
        private int maxLimit = 1000;
        private double backoffRatio = 0.9;
        private long latencyThresholdNanos = Duration.ofSeconds(1).toNanos();
        private double tolerance = 1.0;
        private int queueSize = 4;
        private double smoothing = 0.2;
        private final Set<String> set = new HashSet<>();

        private Builder(Kind kind) {
            this.kind = kind;
        }

        /**
         * Sets the limit a guard starts with. Default 20.
         *
         * @param initialLimit at least 1, within {@code [minLimit, maxLimit]} at build
         * @return this builder
         * @throws IllegalArgumentException if below 1
         * @throws IllegalStateException if already set
         */
        public Builder initialLimit(int initialLimit) {
            once("initialLimit");
            this.initialLimit = atLeastOne("initialLimit", initialLimit);
            return this;
        }

        /**
         * Sets the lowest the limit may go. Default 1.
         *
         * @param minLimit at least 1
         * @return this builder
         * @throws IllegalArgumentException if below 1
         * @throws IllegalStateException if already set
         */
        public Builder minLimit(int minLimit) {
            once("minLimit");
            this.minLimit = atLeastOne("minLimit", minLimit);
            return this;
        }

        /**
         * Sets the highest the limit may go. Default 1000.
         *
         * @param maxLimit at least 1
         * @return this builder
         * @throws IllegalArgumentException if below 1
         * @throws IllegalStateException if already set
         */
        public Builder maxLimit(int maxLimit) {
            once("maxLimit");
            this.maxLimit = atLeastOne("maxLimit", maxLimit);
            return this;
        }

        /**
         * AIMD only: sets the factor the limit is multiplied by on a failure or slow call. Default 0.9.
         *
         * @param backoffRatio in {@code [0.5, 1)}
         * @return this builder
         * @throws IllegalArgumentException if out of range
         * @throws IllegalStateException if already set, or if this is a gradient builder
         */
        public Builder backoffRatio(double backoffRatio) {
            only(Kind.AIMD, "backoffRatio");
            if (!(backoffRatio >= 0.5 && backoffRatio < 1)) {
                throw new IllegalArgumentException("backoffRatio must be in [0.5, 1), got " + backoffRatio);
            }
            this.backoffRatio = backoffRatio;
            return this;
        }

        /**
         * AIMD only: sets the latency above which a call counts as a sign of overload. Default 1 s.
         *
         * @param latencyThreshold positive
         * @return this builder
         * @throws IllegalArgumentException if zero or negative
         * @throws IllegalStateException if already set, or if this is a gradient builder
         */
        public Builder latencyThreshold(Duration latencyThreshold) {
            only(Kind.AIMD, "latencyThreshold");
            Objects.requireNonNull(latencyThreshold, "latencyThreshold");
            if (latencyThreshold.isNegative() || latencyThreshold.isZero()) {
                throw new IllegalArgumentException("latencyThreshold must be positive, got " + latencyThreshold);
            }
            this.latencyThresholdNanos = Deadline.saturatedNanos(latencyThreshold);
            return this;
        }

        /**
         * Gradient only: sets how much latency above the baseline is tolerated before the limit shrinks.
         * Default 1.0 (none beyond what {@code queueSize} allows).
         *
         * @param tolerance in {@code [1, 3]}
         * @return this builder
         * @throws IllegalArgumentException if out of range
         * @throws IllegalStateException if already set, or if this is an AIMD builder
         */
        public Builder tolerance(double tolerance) {
            only(Kind.GRADIENT, "tolerance");
            if (!(tolerance >= 1 && tolerance <= 3)) {
                throw new IllegalArgumentException("tolerance must be in [1, 3], got " + tolerance);
            }
            this.tolerance = tolerance;
            return this;
        }

        /**
         * Gradient only: sets the calls allowed to queue at the dependency above its knee; also how fast
         * the limit grows while latency stays at the baseline. Default 4.
         *
         * @param queueSize at least 1
         * @return this builder
         * @throws IllegalArgumentException if below 1
         * @throws IllegalStateException if already set, or if this is an AIMD builder
         */
        public Builder queueSize(int queueSize) {
            only(Kind.GRADIENT, "queueSize");
            this.queueSize = atLeastOne("queueSize", queueSize);
            return this;
        }

        /**
         * Gradient only: sets how far each round trip's samples move the limit toward its target.
         * Default 0.2.
         *
         * @param smoothing in {@code (0, 1]}
         * @return this builder
         * @throws IllegalArgumentException if out of range
         * @throws IllegalStateException if already set, or if this is an AIMD builder
         */
        public Builder smoothing(double smoothing) {
            only(Kind.GRADIENT, "smoothing");
            if (!(smoothing > 0 && smoothing <= 1)) {
                throw new IllegalArgumentException("smoothing must be in (0, 1], got " + smoothing);
            }
            this.smoothing = smoothing;
            return this;
        }

        /**
         * Builds the limit.
         *
         * @return the immutable description
         * @throws IllegalArgumentException if {@code minLimit > maxLimit} or the initial limit lies outside
         *     them
         */
        public AdaptiveLimit build() {
            if (minLimit > maxLimit) {
                throw new IllegalArgumentException(
                        "minLimit (" + minLimit + ") must be <= maxLimit (" + maxLimit + ")");
            }
            if (initialLimit < minLimit || initialLimit > maxLimit) {
                throw new IllegalArgumentException("initialLimit must be in [minLimit=" + minLimit + ", maxLimit="
                        + maxLimit + "], got " + initialLimit);
            }
            return new AdaptiveLimit(this);
        }

        private void only(Kind required, String field) {
            if (kind != required) {
                throw new IllegalStateException(field + " applies to " + required + " limits only, not " + kind);
            }
            once(field);
        }

        private void once(String field) {
            if (!set.add(field)) {
                throw new IllegalStateException(field + " was already set");
            }
        }

        private static int atLeastOne(String field, int value) {
            if (value < 1) {
                throw new IllegalArgumentException(field + " must be >= 1, got " + value);
            }
            return value;
        }
    }
}
