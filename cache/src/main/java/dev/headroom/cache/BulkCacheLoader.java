package dev.headroom.cache;

import java.util.Map;
import java.util.Set;

/**
 * Loads many keys in one call (one {@code SELECT ... WHERE id IN (...)}), used by {@link
 * TieredCache#getAll}. Runs on the cache's executor.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
@FunctionalInterface
public interface BulkCacheLoader<K, V> {

    /**
     * Loads the values of {@code keys}.
     *
     * @param keys the keys that missed both tiers; never empty
     * @return the values found; a key left out has no value (cached as absent for the negative TTL)
     * @throws Exception any failure; the whole {@code getAll} fails with {@link CacheLoadException}
     */
    Map<K, V> loadAll(Set<K> keys) throws Exception;
}
