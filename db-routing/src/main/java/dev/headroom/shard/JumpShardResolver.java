package dev.headroom.shard;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Jump consistent hash (Lamping and Veach, 2014) over numbered shards: no state, no memory per
 * shard, near-perfect balance, and when shards go from N to N+1 only ~1/(N+1) of keys move (all to
 * the new shard). Shards can only be appended or removed from the end, by design.
 *
 * <p>The algorithm is the paper's, with its 64-bit LCG ({@code 2862933555777941757}), applied to
 * {@link KeyHasher}'s hash, so other languages' implementations of the paper give the same bucket
 * (hash4j's faster JumpBackHash gives different buckets, and Guava's {@code consistentHash} is a
 * different algorithm again).
 *
 * @param <K> the key type
 */
public final class JumpShardResolver<K> implements ShardResolver<K> {
    private final KeyHasher<? super K> hasher;
    private final String[] names;
    private final Set<String> shards;

    /**
     * @param hasher the key hash
     * @param shardNames shard {@code i} is {@code shardNames.get(i)}; order matters and only the end
     *     may change
     * @throws IllegalArgumentException if there are no shards, or a name is blank or repeated
     */
    public JumpShardResolver(KeyHasher<? super K> hasher, List<String> shardNames) {
        this.hasher = Objects.requireNonNull(hasher, "hasher");
        Objects.requireNonNull(shardNames, "shardNames");
        if (shardNames.isEmpty()) {
            throw new IllegalArgumentException("shardNames must name at least 1 shard, got 0");
        }
        this.names = shardNames.toArray(String[]::new);
        this.shards = ShardResolvers.uniqueNames("shardNames", shardNames);
    }

    /** Shards named {@code "0"} to {@code "<count-1>"}. */
    public static <K> JumpShardResolver<K> numbered(KeyHasher<? super K> hasher, int count) {
        if (count < 1) {
            throw new IllegalArgumentException("shard count must be >= 1, got " + count);
        }
        String[] n = new String[count];
        for (int i = 0; i < count; i++) {
            n[i] = Integer.toString(i);
        }
        return new JumpShardResolver<>(hasher, List.of(n));
    }

    /** The bucket in {@code [0, buckets)} for a 64-bit key hash: Lamping and Veach's algorithm. */
    public static int jump(long key, int buckets) {
        long b = -1;
        long j = 0;
        while (j < buckets) {
            b = j;
            key = key * 2862933555777941757L + 1;
            j = (long) ((b + 1) * ((double) (1L << 31) / (double) ((key >>> 33) + 1)));
        }
        return (int) b;
    }

    @Override
    public String shardFor(K key) {
        return names[jump(hasher.hash(Objects.requireNonNull(key, "key")), names.length)];
    }

    @Override
    public Set<String> shards() {
        return shards;
    }

    @Override
    public String strategy() {
        return "jump";
    }

    @Override
    public String toString() {
        return "JumpShardResolver" + List.of(names);
    }
}
