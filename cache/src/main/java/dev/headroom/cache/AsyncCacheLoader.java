package dev.headroom.cache;

import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * Loads the value of one key without blocking the calling thread.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
@FunctionalInterface
public interface AsyncCacheLoader<K, V> {

    /**
     * Starts loading a value.
     *
     * @param key the key that missed
     * @return a stage completing with the value, with null if the key has none, or exceptionally
     */
    CompletionStage<@Nullable V> load(K key);
}
