package dev.headroom.core;

/**
 * A source of monotonic time in nanoseconds, like {@link System#nanoTime()}.
 *
 * <p>Every time-based behaviour in Headroom (TTLs, deadlines, lag ages, backoff) reads time from a
 * {@code Ticker} that can be set on the component's builder, so tests can drive time with a fake
 * instead of sleeping. Values are only meaningful as differences between two reads of the same
 * ticker; they are not wall-clock time.
 *
 * <p>Implementations must be thread-safe and must never go backwards.
 */
@FunctionalInterface
public interface Ticker {

    /**
     * Returns the current time in nanoseconds from an arbitrary, fixed origin.
     *
     * @return nanoseconds; only differences between reads are meaningful
     */
    long read();

    /**
     * Returns the ticker backed by {@link System#nanoTime()}, the default everywhere.
     *
     * @return the system ticker, a singleton
     */
    static Ticker system() {
        return SystemTicker.INSTANCE;
    }
}
