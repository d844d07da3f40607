package dev.headroom.shard;

import java.util.Set;

/**
 * Maps a key to the name of its shard: a pure function of the key and the topology.
 *
 * <p>The contract every implementation keeps, because {@link ShardedDataSource} and {@link
 * ReshardingPlan} rely on it to put each key's rows in exactly one database: two instances built
 * with the same topology return the same shard for the same key — in any process, on any JVM, after
 * any restart, whatever keys were looked up before. An implementation must not remember keys or
 * depend on call order (placements that do, such as {@link LocalBoundedLoadPlacement}, are a
 * separate type for that reason). Implementations are thread-safe.
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

    /** The strategy, for metrics and logs: {@code jump}, {@code rendezvous}, .... */
    String strategy();
}
