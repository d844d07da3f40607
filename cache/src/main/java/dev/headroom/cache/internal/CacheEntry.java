package dev.headroom.cache.internal;

import org.jspecify.annotations.Nullable;

/**
 * One L1 entry: the value (null for a cached absence), when it stops being fresh, when it must be
 * gone, and how long its load took (XFetch's delta). Immutable.
 */
public final class CacheEntry<V> {
    private final @Nullable V value;
    private final long freshUntil;
    private final long expiresAt;
    private final long loadNanos;
    private final long version;
    private final @Nullable Throwable failure;

    public CacheEntry(@Nullable V value, long freshUntil, long expiresAt, long loadNanos, long version) {
        this(value, freshUntil, expiresAt, loadNanos, version, null);
    }

    private CacheEntry(
            @Nullable V value,
            long freshUntil,
            long expiresAt,
            long loadNanos,
            long version,
            @Nullable Throwable failure) {
        this.value = value;
        this.freshUntil = freshUntil;
        this.expiresAt = expiresAt;
        this.loadNanos = loadNanos;
        this.version = version;
        this.failure = failure;
    }

    /**
     * A load that failed, carried as a value so that Caffeine never sees a failed future (it logs
     * each one at WARNING through System.Logger, bypassing SLF4J). Never served: readers treat it as
     * a miss and remove it; the callers that waited on the load get {@link #failure()}.
     */
    public static <V> CacheEntry<V> failed(Throwable failure) {
        return new CacheEntry<>(null, 0, 0, 0, -1, failure);
    }

    /** The load's failure for a {@link #failed} entry, else null. */
    public @Nullable Throwable failure() {
        return failure;
    }

    /** The L2 version this value was read or written at; -1 when unknown (no L2, or L2 failed). */
    public long version() {
        return version;
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
