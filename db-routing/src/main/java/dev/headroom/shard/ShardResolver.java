package dev.headroom.shard;

import java.util.Set;

/**
 * Maps a key to the name of its shard. Implementations are thread-safe; all but {@link
 * BoundedLoadShardResolver} are pure functions of the key and the topology.
 *
 * @param <K> the key type
 */
public interface ShardResolver<K> {

    /**
     * Returns the shard that owns {@code key}.
     *
     * @param key not null
     * @return the shard's name, one of {@link #shards()}
     * @throws NullPointerException if {@code key} is null
     */
    String shardFor(K key);

    /** Every shard name this resolver can return. */
    Set<String> shards();

    /** The strategy, for metrics and logs: {@code jump}, {@code rendezvous}, {@code bounded_load}, .... */
    String strategy();
}
