package dev.headroom.cache;

import org.jspecify.annotations.Nullable;

/**
 * Loads the value of one key from the source of truth, blocking. Runs on the cache's executor.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
@FunctionalInterface
public interface CacheLoader<K, V> {

    /**
     * Loads a value.
     *
     * @param key the key that missed
     * @return the value, or null if the key has none (cached as absent for the negative TTL)
     * @throws Exception any failure; callers waiting on this load receive a {@link CacheLoadException}
     */
    @Nullable
    V load(K key) throws Exception;
}
