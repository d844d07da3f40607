package dev.headroom.core;

import java.time.Duration;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Capped exponential backoff with jitter, as described in AWS's "Exponential Backoff and Jitter":
 *
 * <ul>
 *   <li>{@link Jitter#FULL} (the default): the delay after failed attempt {@code n} is uniform in
 *       {@code [0, min(cap, base * 2^(n-1))]} — the best spread of retries for the least total work;
 *   <li>{@link Jitter#DECORRELATED}: uniform in {@code [base, min(cap, previous * 3)]}, so each delay
 *       depends on the last one rather than on the attempt number;
 *   <li>{@link Jitter#NONE}: exactly {@code min(cap, base * 2^(n-1))}.
 * </ul>
 *
 * <p>Delays never exceed {@code cap} and never overflow, whatever the attempt number. {@code
 * maxAttempts} counts every attempt including the first: with {@code maxAttempts(3)} an operation is
 * tried once and retried at most twice.
 *
 * <p>Immutable and thread-safe, provided the {@link Builder#random(RandomGenerator) random source} is
 * (the default, {@link ThreadLocalRandom}, is). Tests pass a seeded {@code java.util.Random} to get
 * the same delays every run.
 *
 * <pre>{@code
 * Backoff backoff = Backoff.builder()
 *         .base(Duration.ofMillis(50))
 *         .cap(Duration.ofSeconds(5))
 *         .maxAttempts(6)
 *         .build();
 * }</pre>
 */
public final class Backoff {

    /** How randomness is applied to the exponential delay. */
    public enum Jitter {
        /** No randomness: {@code min(cap, base * 2^(n-1))}. */
        NONE,
        /** Uniform in {@code [0, min(cap, base * 2^(n-1))]}. */
        FULL,
        /** Uniform in {@code [base, min(cap, previous * 3)]}. */
        DECORRELATED
    }

    /** Default first delay: 100 ms. */
    public static final Duration DEFAULT_BASE = Duration.ofMillis(100);
    /** Default largest delay: 10 s. */
    public static final Duration DEFAULT_CAP = Duration.ofSeconds(10);
    /** Default total attempts, the first included: 5. */
    public static final int DEFAULT_MAX_ATTEMPTS = 5;

    private final long baseNanos;
    private final long capNanos;
    private final int maxAttempts;
    private final Jitter jitter;
    private final @Nullable RandomGenerator random;

    private Backoff(Builder b) {
        this.baseNanos = b.baseNanos;
        this.capNanos = b.capNanos;
        this.maxAttempts = b.maxAttempts;
        this.jitter = b.jitter;
        this.random = b.random;
    }

    /**
     * Returns a builder with the defaults: base 100 ms, cap 10 s, 5 attempts, full jitter.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the delay to wait after attempt {@code failedAttempt} failed, before the next one.
     *
     * @param failedAttempt the 1-based number of the attempt that just failed
     * @param previousDelay the delay returned for the previous attempt, or {@link Duration#ZERO} for
     *     the first; only {@link Jitter#DECORRELATED} uses it
     * @return a delay in {@code [0, cap]}
     * @throws IllegalArgumentException if {@code failedAttempt < 1}
     */
    public Duration delay(int failedAttempt, Duration previousDelay) {
        Objects.requireNonNull(previousDelay, "previousDelay");
        return Duration.ofNanos(delayNanos(failedAttempt, Deadline.saturatedNanos(previousDelay)));
    }

    /**
     * Nanosecond form of {@link #delay(int, Duration)}; allocation-free.
     *
     * @param failedAttempt the 1-based number of the attempt that just failed
     * @param previousDelayNanos the previous delay, or 0 for the first
     * @return a delay in nanoseconds in {@code [0, cap]}
     * @throws IllegalArgumentException if {@code failedAttempt < 1}
     */
    public long delayNanos(int failedAttempt, long previousDelayNanos) {
        if (failedAttempt < 1) {
            throw new IllegalArgumentException("failedAttempt must be >= 1, got " + failedAttempt);
        }
        return switch (jitter) {
            case NONE -> ceilingNanos(failedAttempt);
            case FULL -> uniform(0, ceilingNanos(failedAttempt));
            case DECORRELATED -> {
                long previous = previousDelayNanos < baseNanos ? baseNanos : previousDelayNanos;
                long upper = previous > capNanos / 3 ? capNanos : previous * 3;
                yield uniform(baseNanos, Math.max(baseNanos, upper));
            }
        };
    }

    /**
     * Returns whether another attempt is allowed after attempt {@code failedAttempt} failed.
     *
     * @param failedAttempt the 1-based number of the attempt that just failed
     * @return {@code failedAttempt < maxAttempts}
     */
    public boolean allowsRetryAfter(int failedAttempt) {
        return failedAttempt < maxAttempts;
    }

    /**
     * Starts the delays of one operation.
     *
     * @return a fresh sequence of at most {@code maxAttempts - 1} delays
     */
    public Sequence start() {
        return new Sequence(this);
    }

    /** Returns the first, smallest exponential step. */
    public Duration base() {
        return Duration.ofNanos(baseNanos);
    }

    /**
     * Returns the exponential step for attempt {@code failedAttempt} without jitter, {@code min(cap,
     * base * 2^(n-1))}: the {@link Jitter#NONE} delay, and the upper bound of the {@link Jitter#FULL}
     * one. A caller that cannot keep the previous delay of a {@link Jitter#DECORRELATED} backoff (a
     * persisted job, say) may pass {@code ceiling(n - 1)} as it, so that delays still grow with the
     * attempt number.
     *
     * @param failedAttempt the 1-based attempt number
     * @return a duration in {@code [base, cap]}
     * @throws IllegalArgumentException if {@code failedAttempt < 1}
     */
    public Duration ceiling(int failedAttempt) {
        if (failedAttempt < 1) {
            throw new IllegalArgumentException("failedAttempt must be >= 1, got " + failedAttempt);
        }
        return Duration.ofNanos(ceilingNanos(failedAttempt));
    }

    /** Returns the largest delay this backoff returns. */
    public Duration cap() {
        return Duration.ofNanos(capNanos);
    }

    /** Returns the number of attempts allowed, the first included. */
    public int maxAttempts() {
        return maxAttempts;
    }

    /** Returns the jitter mode. */
    public Jitter jitter() {
        return jitter;
    }

    @Override
    public String toString() {
        return "Backoff[base=" + base() + ", cap=" + cap() + ", maxAttempts=" + maxAttempts + ", jitter=" + jitter
                + "]";
    }

    /** {@code min(cap, base * 2^(attempt-1))} without overflow. */
    private long ceilingNanos(int attempt) {
        int shift = attempt - 1;
        if (shift >= 63 || baseNanos > (capNanos >> shift)) {
            return capNanos;
        }
        return baseNanos << shift;
    }

    /** Uniform in {@code [lo, hi]}, both inclusive. */
    private long uniform(long lo, long hi) {
        if (hi <= lo) {
            return lo;
        }
        RandomGenerator r = random != null ? random : ThreadLocalRandom.current();
        long span = hi - lo;
        return span == Long.MAX_VALUE ? lo + (r.nextLong() & Long.MAX_VALUE) : lo + r.nextLong(span + 1);
    }

    /**
     * The delays of one operation, in order. Not thread-safe: one sequence per operation.
     *
     * <pre>{@code
     * Backoff.Sequence delays = backoff.start();
     * while (true) {
     *     try { return call(); }
     *     catch (IOException e) {
     *         if (!delays.hasNext()) throw e;
     *         sleep(delays.next());
     *     }
     * }
     * }</pre>
     */
    public static final class Sequence {
        private final Backoff backoff;
        private int failedAttempts;
        private long previousNanos;

        private Sequence(Backoff backoff) {
            this.backoff = backoff;
        }

        /** Returns whether another attempt is allowed after the ones made so far. */
        public boolean hasNext() {
            return backoff.allowsRetryAfter(failedAttempts + 1);
        }

        /**
         * Records a failed attempt and returns how long to wait before the next.
         *
         * @return the delay
         * @throws NoSuchElementException if {@code maxAttempts} attempts have been made
         */
        public Duration next() {
            if (!hasNext()) {
                throw new NoSuchElementException(
                        "no attempts left: maxAttempts=" + backoff.maxAttempts + " already made");
            }
            failedAttempts++;
            previousNanos = backoff.delayNanos(failedAttempts, previousNanos);
            return Duration.ofNanos(previousNanos);
        }

        /** Returns how many delays this sequence has handed out. */
        public int retries() {
            return failedAttempts;
        }
    }

    /**
     * Builds a {@link Backoff}. Each setter validates its argument at once; {@link #build()} checks
     * the combination. Not thread-safe.
     */
    public static final class Builder {
        private long baseNanos = DEFAULT_BASE.toNanos();
        private long capNanos = DEFAULT_CAP.toNanos();
        private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
        private Jitter jitter = Jitter.FULL;
        private @Nullable RandomGenerator random;

        private Builder() {}

        /**
         * Sets the first exponential step. Default 100 ms.
         *
         * @param base a positive duration
         * @return this builder
         * @throws IllegalArgumentException if {@code base} is zero or negative
         */
        public Builder base(Duration base) {
            this.baseNanos = positiveNanos("base", base);
            return this;
        }

        /**
         * Sets the largest delay ever returned. Default 10 s.
         *
         * @param cap a positive duration, at least {@code base}
         * @return this builder
         * @throws IllegalArgumentException if {@code cap} is zero or negative
         */
        public Builder cap(Duration cap) {
            this.capNanos = positiveNanos("cap", cap);
            return this;
        }

        /**
         * Sets the number of attempts, the first included. Default 5; {@link Integer#MAX_VALUE} for no
         * limit.
         *
         * @param maxAttempts at least 1
         * @return this builder
         * @throws IllegalArgumentException if {@code maxAttempts < 1}
         */
        public Builder maxAttempts(int maxAttempts) {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
            }
            this.maxAttempts = maxAttempts;
            return this;
        }

        /**
         * Sets the jitter mode. Default {@link Jitter#FULL}.
         *
         * @param jitter the mode
         * @return this builder
         */
        public Builder jitter(Jitter jitter) {
            this.jitter = Objects.requireNonNull(jitter, "jitter");
            return this;
        }

        /**
         * Sets the source of randomness, mainly to make tests deterministic. It must be thread-safe if
         * the backoff is shared between threads ({@code java.util.Random} is; {@code SplittableRandom}
         * is not). Default: {@link ThreadLocalRandom#current()} of the calling thread.
         *
         * @param random the source
         * @return this builder
         */
        public Builder random(RandomGenerator random) {
            this.random = Objects.requireNonNull(random, "random");
            return this;
        }

        /**
         * Builds the backoff.
         *
         * @return the immutable backoff
         * @throws IllegalArgumentException if {@code cap < base}
         */
        public Backoff build() {
            if (capNanos < baseNanos) {
                throw new IllegalArgumentException("cap (" + Duration.ofNanos(capNanos) + ") must be >= base ("
                        + Duration.ofNanos(baseNanos) + ")");
            }
            return new Backoff(this);
        }

        private static long positiveNanos(String field, Duration value) {
            Objects.requireNonNull(value, field);
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException(field + " must be positive, got " + value);
            }
            return Deadline.saturatedNanos(value);
        }
    }
}
