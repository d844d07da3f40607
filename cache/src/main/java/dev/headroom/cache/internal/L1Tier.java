package dev.headroom.cache.internal;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.core.Ticker;
import java.util.Map;
import java.util.function.ToIntBiFunction;
import org.jspecify.annotations.Nullable;

/**
 * The in-process tier: completed entries in a Caffeine map bounded by count or weight. Caffeine
 * never sees a future (its async cache costs two writes per load) and keeps no expiry of its own:
 * an entry's lifetime is checked on read against {@link #now()}, and {@link #sweep} frees entries
 * nobody reads again. Installs come only through {@link InFlightLoads}, under its lock for the key.
 *
 * <p>Thread-safe.
 */
public final class L1Tier<K, V> {

    private final Cache<K, CacheEntry<V>> map;
    /** Decides freshness on hits: {@link CoarseClock} unless the builder was given a ticker. */
    private final Ticker hitClock;

    private final Entries<V> entries;
    private final CacheMetrics metrics;

    /**
     * @param weigher with {@code maximumWeight}, bounds L1 by weight (an absence weighs 1); null:
     *     bounded by {@code maximumSize}
     */
    public L1Tier(
            long maximumSize,
            @Nullable ToIntBiFunction<? super K, ? super V> weigher,
            long maximumWeight,
            Ticker ticker,
            Ticker hitClock,
            Entries<V> entries,
            CacheMetrics metrics) {
        this.hitClock = hitClock;
        this.entries = entries;
        this.metrics = metrics;
        Caffeine<Object, Object> caffeine = Caffeine.newBuilder()
                .ticker(ticker::read)
                // Maintenance (amortized, bounded buffer drains) and the removal listener (a counter)
                // run on the writing thread: handing them to a pool woke a thread per L1 write,
                // ~2 context switches and ~30 µs of CPU per L2 hit on 2 vCPUs (benchmarks/RESULTS.md).
                .executor(Runnable::run)
                .removalListener((k, v, cause) -> {
                    if (cause.wasEvicted()) {
                        metrics.evictions.increment();
                    }
                });
        if (weigher != null) {
            caffeine.maximumWeight(maximumWeight)
                    .weigher((K k, CacheEntry<V> e) -> e.value() == null ? 1 : weigher.applyAsInt(k, e.value()));
        } else {
            caffeine.maximumSize(maximumSize);
        }
        // No Caffeine expiry: it costs a clock read and timer-wheel upkeep on every hit (measured
        // 40 ns vs 10 ns for a size-only read), and the read path already reads the clock for
        // freshness.
        this.map = caffeine.build();
    }

    /** The key's entry, whatever its age; null if L1 has none. */
    public @Nullable CacheEntry<V> getIfPresent(K key) {
        return map.getIfPresent(key);
    }

    /** The clock entries' freshness and lifetime are compared with on hits. */
    public long now() {
        return hitClock.read();
    }

    /** Whether {@code entry} is within its lifetime (fresh, or stale within grace) at {@code now}. */
    public static boolean alive(CacheEntry<?> entry, long now) {
        return now - entry.expiresAt() < 0;
    }

    /**
     * Puts an entry in L1 (null: removes the key), capped while the bus is down, and counts an
     * expired entry it replaces. Returns what Caffeine or the weigher threw instead of throwing:
     * callers run it under {@link InFlightLoads}' lock, where a throw would leave the key's
     * registration behind.
     */
    @Nullable
    RuntimeException install(K key, @Nullable CacheEntry<V> given) {
        try {
            CacheEntry<V> entry = given == null ? null : entries.cappedWhileBusDown(given);
            CacheEntry<V> old =
                    entry == null ? map.asMap().remove(key) : map.asMap().put(key, entry);
            if (old != null && !alive(old, hitClock.read())) {
                metrics.expirations.increment();
            }
            return null;
        } catch (RuntimeException e) {
            return e;
        }
    }

    void remove(K key) {
        map.invalidate(key);
    }

    void flush() {
        map.invalidateAll();
        metrics.l1Flushes.increment();
    }

    /** Removes entries past their lifetime at {@code now}. */
    public void sweep(long now) {
        for (Map.Entry<K, CacheEntry<V>> e : map.asMap().entrySet()) {
            CacheEntry<V> entry = e.getValue();
            if (!alive(entry, now) && map.asMap().remove(e.getKey(), entry)) {
                metrics.expirations.increment();
            }
        }
    }

    /** The approximate number of entries. */
    public long estimatedSize() {
        return map.estimatedSize();
    }
}
