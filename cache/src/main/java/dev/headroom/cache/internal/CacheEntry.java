package dev.headroom.cache.internal;

import java.util.concurrent.atomic.AtomicLongFieldUpdater;
import org.jspecify.annotations.Nullable;

/**
 * One L1 entry: the value (null for a cached absence), when it stops being fresh, when it must be
 * gone, and how long its load took (XFetch's delta). Immutable but for the version, which only
 * grows: a loaded entry learns the version its write-back gave the L2 value after it was made.
 */
public final class CacheEntry<V> {
    @SuppressWarnings("rawtypes")
    private static final AtomicLongFieldUpdater<CacheEntry> VERSION =
            AtomicLongFieldUpdater.newUpdater(CacheEntry.class, "version");

    private final @Nullable V value;
    private final long freshUntil;
    private final long expiresAt;
    private final long loadNanos;
    private volatile long version;

    public CacheEntry(@Nullable V value, long freshUntil, long expiresAt, long loadNanos, long version) {
        this.value = value;
        this.freshUntil = freshUntil;
        this.expiresAt = expiresAt;
        this.loadNanos = loadNanos;
        this.version = version;
    }

    /** The L2 version this value was read or written at; -1 when unknown (no L2, or L2 failed). */
    public long version() {
        return version;
    }

    /**
     * Raises the version to {@code written}, the version L2 gave this very value when it was written
     * back; never lowers it. The entry then recognizes that L2 value as its own, not as a newer one.
     */
    public void written(long written) {
        long current;
        do {
            current = version;
            if (written <= current) {
                return;
            }
        } while (!VERSION.compareAndSet(this, current, written));
    }

    public @Nullable V value() {
        return value;
    }

    /** Ticker time after which the entry is stale (served only within the grace window). */
    public long freshUntil() {
        return freshUntil;
    }

    /** Ticker time after which L1 drops the entry. */
    public long expiresAt() {
        return expiresAt;
    }

    public long loadNanos() {
        return loadNanos;
    }
}
