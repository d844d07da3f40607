package dev.headroom.cache.internal;

import dev.headroom.cache.AsyncCacheLoader;
import dev.headroom.cache.CacheLoader;
import org.jspecify.annotations.Nullable;

/**
 * The hot read path every public read starts with: an L1 lookup and the freshness decision. A fresh
 * entry is served (drawing an early refresh now and then); a stale one within grace is served while
 * one background refresh runs; an expired one, or any while a flush is under way, is a {@link #MISS}.
 * Allocates nothing on a fresh hit.
 *
 * <p>Thread-safe.
 */
public final class L1Reads<K, V> {

    /** Returned by {@link #read} when L1 has no usable entry; never escapes to callers. */
    public static final Object MISS = new Object();

    private final L1Tier<K, V> l1;
    private final L2Trust trust;
    private final Refreshes<K, V> refreshes;
    private final Loads<K, V> loads;
    private final CacheMetrics metrics;

    public L1Reads(L1Tier<K, V> l1, L2Trust trust, Refreshes<K, V> refreshes, Loads<K, V> loads, CacheMetrics metrics) {
        this.l1 = l1;
        this.trust = trust;
        this.refreshes = refreshes;
        this.loads = loads;
        this.metrics = metrics;
    }

    /**
     * The value of the key's usable entry, or {@link #MISS}. A refresh it triggers uses whichever
     * loader is given (neither: no refresh); the sync one is adapted only then.
     */
    public @Nullable Object read(
            K key,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        CacheEntry<V> entry = l1.getIfPresent(key);
        if (entry == null || trust.flushUnderWay()) {
            return MISS;
        }
        long now = l1.now();
        if (!L1Tier.alive(entry, now)) {
            // Past its lifetime: left in place for the load's install (or the sweep) to replace, which
            // saves an L1 write per miss; the replacement counts the expiration.
            return MISS;
        }
        if (now - entry.freshUntil() < 0) {
            if (refreshes.dueEarly(entry, now)) {
                metrics.earlyRefreshes.increment();
                refresh(key, entry, syncLoader, asyncLoader);
            }
            (entry.value() == null ? metrics.negativeHits : metrics.l1Hits).increment();
            return entry.value();
        }
        metrics.staleServed.increment();
        refresh(key, entry, syncLoader, asyncLoader);
        return entry.value();
    }

    private void refresh(
            K key,
            CacheEntry<V> current,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        AsyncCacheLoader<K, V> loader =
                asyncLoader != null ? asyncLoader : syncLoader != null ? loads.adapt(syncLoader) : null;
        if (loader != null) {
            refreshes.start(key, current, loader);
        }
    }
}
