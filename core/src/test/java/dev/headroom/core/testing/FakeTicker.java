package dev.headroom.core.testing;

import dev.headroom.core.Ticker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link Ticker} that moves only when told to, for deterministic tests of time-based behaviour.
 * Shared with every module's tests through {@code headroom-core}'s test-jar.
 *
 * <p>Thread-safe: readers on other threads see every {@link #advance} that happened before.
 */
public final class FakeTicker implements Ticker {

    private final AtomicLong nanos;

    /** Starts at an arbitrary non-zero origin, as {@link System#nanoTime()} does. */
    public FakeTicker() {
        this(1_000_000_000L);
    }

    /**
     * Starts at the given reading.
     *
     * @param startNanos the first value {@link #read()} returns
     */
    public FakeTicker(long startNanos) {
        this.nanos = new AtomicLong(startNanos);
    }

    @Override
    public long read() {
        return nanos.get();
    }

    /**
     * Moves time forward.
     *
     * @param duration how far; must not be negative
     * @return this ticker
     */
    public FakeTicker advance(Duration duration) {
        return advance(duration.toNanos());
    }

    /**
     * Moves time forward.
     *
     * @param deltaNanos how far, in nanoseconds; must not be negative
     * @return this ticker
     */
    public FakeTicker advance(long deltaNanos) {
        if (deltaNanos < 0) {
            throw new IllegalArgumentException("a ticker never goes backwards: " + deltaNanos);
        }
        nanos.addAndGet(deltaNanos);
        return this;
    }
}
