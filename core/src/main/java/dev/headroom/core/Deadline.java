package dev.headroom.core;

import java.time.Duration;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A point in time by which some work must finish, measured on a {@link Ticker}.
 *
 * <p>Immutable and thread-safe. Deadlines are in-process values: to send one to another process,
 * send its {@link #remaining()} time and rebuild it there with {@link #after(Duration)}.
 *
 * <p>Timeouts too large to represent (for example {@code Duration.ofSeconds(Long.MAX_VALUE)})
 * saturate to a deadline about 292 years away rather than overflowing into the past.
 */
public final class Deadline implements Comparable<Deadline> {

    private final Ticker ticker;
    // Kept as start + timeout rather than an absolute instant: nanoTime origins may be anywhere,
    // and "timeout - elapsed" cannot overflow where "start + timeout - now" can.
    private final long startNanos;
    private final long timeoutNanos;

    private Deadline(Ticker ticker, long startNanos, long timeoutNanos) {
        this.ticker = ticker;
        this.startNanos = startNanos;
        this.timeoutNanos = timeoutNanos;
    }

    /**
     * Returns a deadline {@code timeout} from now on the system ticker.
     *
     * @param timeout how long from now; zero or negative gives an already expired deadline
     * @return the deadline
     * @throws NullPointerException if {@code timeout} is null
     */
    public static Deadline after(Duration timeout) {
        return after(timeout, Ticker.system());
    }

    /**
     * Returns a deadline {@code timeout} from now on {@code ticker}.
     *
     * @param timeout how long from now; zero or negative gives an already expired deadline
     * @param ticker the time source, typically a fake one in tests
     * @return the deadline
     * @throws NullPointerException if an argument is null
     */
    public static Deadline after(Duration timeout, Ticker ticker) {
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(ticker, "ticker");
        return new Deadline(ticker, ticker.read(), Math.max(0, saturatedNanos(timeout)));
    }

    /**
     * Returns the time left, negative once the deadline has passed.
     *
     * @return nanoseconds until the deadline
     */
    public long remainingNanos() {
        return remainingNanos(ticker.read());
    }

    private long remainingNanos(long now) {
        return timeoutNanos - (now - startNanos);
    }

    /**
     * Returns the time left, or {@link Duration#ZERO} once the deadline has passed.
     *
     * @return the remaining time, never negative
     */
    public Duration remaining() {
        return Duration.ofNanos(Math.max(0, remainingNanos()));
    }

    /**
     * Returns whether the deadline has passed.
     *
     * @return {@code true} once no time is left
     */
    public boolean isExpired() {
        return remainingNanos() <= 0;
    }

    /**
     * Returns the earlier of this deadline and {@code other}: a nested scope may shorten the time a
     * request has, never extend it.
     *
     * @param other another deadline
     * @return whichever leaves less time
     */
    public Deadline min(Deadline other) {
        return compareTo(other) <= 0 ? this : other;
    }

    /** Orders deadlines by the time they leave, soonest first. */
    @Override
    @SuppressWarnings("ReferenceEquality") // same Ticker instance: one clock read serves both
    public int compareTo(Deadline other) {
        if (other.ticker == ticker) {
            long now = ticker.read();
            return Long.compare(remainingNanos(now), other.remainingNanos(now));
        }
        return Long.compare(remainingNanos(), other.remainingNanos());
    }

    @Override
    @SuppressWarnings("ReferenceEquality") // deadlines on different Ticker instances are different deadlines
    public boolean equals(@Nullable Object o) {
        return o instanceof Deadline d
                && d.ticker == ticker
                && d.startNanos == startNanos
                && d.timeoutNanos == timeoutNanos;
    }

    @Override
    public int hashCode() {
        return (Long.hashCode(startNanos) * 31 + Long.hashCode(timeoutNanos)) * 31 + System.identityHashCode(ticker);
    }

    @Override
    public String toString() {
        return "Deadline[remaining=" + Duration.ofNanos(remainingNanos()) + "]";
    }

    /**
     * Returns {@code duration} in nanoseconds, saturated to {@link Long#MAX_VALUE} (or {@link
     * Long#MIN_VALUE}) where {@link Duration#toNanos()} would overflow (about 292 years).
     *
     * @param duration any duration
     * @return its nanoseconds, saturated
     */
    public static long saturatedNanos(Duration duration) {
        try {
            return duration.toNanos();
        } catch (ArithmeticException overflow) {
            return duration.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
    }
}
