package dev.headroom.shard;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018), as a
 * <em>per-process</em> placement: a hash ring with virtual nodes, where a new key goes to the first
 * node clockwise from its hash that has room under {@code ceil((1 + epsilon) * (placed + 1) /
 * nodes)}. No node ever holds more than {@code 1 + epsilon} times the average (up to rounding by one
 * key), and when nodes change only O(1/epsilon²) more keys move than plain consistent hashing would
 * move.
 *
 * <p><strong>Not a {@link ShardResolver}, on purpose.</strong> It remembers each key's placement in
 * this process's memory (that is what bounds the load), so where a key lands depends on which keys
 * this instance saw before it, and in what order. Two processes — two application instances, or
 * one instance before and after a restart — can place the same key on different nodes. That is why
 * it cannot be given to {@link ShardedDataSource}, {@link ReshardingPlan} or {@link ShardResolvers}:
 * they need a pure function of the key, or one tenant's rows end up in two databases. Use it where
 * a single process owns the placement and the result is kept elsewhere: sessions or jobs handed to
 * workers by one coordinator, or choosing a shard for a <em>new</em> tenant and then storing that
 * choice in a directory (pinned with {@link ShardResolvers#withOverrides}).
 *
 * <p>{@link #place(Object)} of a known key returns its placement; an unknown key is placed.
 * {@link #release(Object)} forgets a key that leaves. Thread-safe: placement is serialized on this
 * instance (it does no I/O while holding the lock).
 *
 * @param <K> the key type; keys must have proper equals and hashCode (not byte[])
 */
public final class LocalBoundedLoadPlacement<K> {
    private final KeyHasher<? super K> hasher;
    private final double epsilon;
    private final String[] names;
    private final long[] ring; // sorted virtual-node positions
    private final int[] ringNode; // node index of each position
    private final int[] loads;
    private final Map<K, Integer> assigned = new HashMap<>();
    private final Set<String> shards;

    /**
     * @param hasher the key hash
     * @param nodes node names
     * @param epsilon the allowed imbalance, {@code > 0}; e.g. 0.25 for at most 125% of the average
     * @param virtualNodes ring positions per node, {@code >= 1} (e.g. 100)
     * @throws IllegalArgumentException if nodes are empty, repeated or blank, or a number is out of
     *     range
     */
    public LocalBoundedLoadPlacement(
            KeyHasher<? super K> hasher, List<String> nodes, double epsilon, int virtualNodes) {
        this.hasher = Objects.requireNonNull(hasher, "hasher");
        Objects.requireNonNull(nodes, "nodes");
        if (nodes.isEmpty()) {
            throw new IllegalArgumentException("nodes must name at least 1 node, got 0");
        }
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("epsilon must be a positive finite number, got " + epsilon);
        }
        if (virtualNodes < 1) {
            throw new IllegalArgumentException("virtualNodes must be >= 1, got " + virtualNodes);
        }
        this.shards = ShardResolvers.uniqueNames("nodes", nodes);
        this.epsilon = epsilon;
        this.names = nodes.toArray(String[]::new);
        this.loads = new int[names.length];
        int size = names.length * virtualNodes;
        long[] positions = new long[size];
        int[] owners = new int[size];
        Integer[] order = new Integer[size];
        for (int n = 0; n < names.length; n++) {
            long nodeHash = Xxh3.ofUtf8(names[n]);
            for (int v = 0; v < virtualNodes; v++) {
                int i = n * virtualNodes + v;
                positions[i] = RendezvousShardResolver.mix(nodeHash + v);
                owners[i] = n;
                order[i] = i;
            }
        }
        Arrays.sort(
                order,
                (a, b) -> positions[a] != positions[b]
                        ? Long.compareUnsigned(positions[a], positions[b])
                        : Integer.compare(owners[a], owners[b]));
        this.ring = new long[size];
        this.ringNode = new int[size];
        for (int i = 0; i < size; i++) {
            ring[i] = positions[order[i]];
            ringNode[i] = owners[order[i]];
        }
    }

    /**
     * The node this instance placed {@code key} on, placing it now if it is new. The answer depends
     * on the keys this instance placed before, so another instance may answer differently.
     *
     * @param key not null
     * @return the node's name, one of {@link #nodes()}
     * @throws NullPointerException if {@code key} is null
     */
    public synchronized String place(K key) {
        Objects.requireNonNull(key, "key");
        Integer existing = assigned.get(key);
        if (existing != null) {
            return names[existing];
        }
        int node = place(hasher.hash(key));
        assigned.put(key, node);
        loads[node]++;
        return names[node];
    }

    /**
     * Forgets a key's placement in this instance, freeing its room.
     *
     * @param key not null
     * @return whether the key was placed
     */
    public synchronized boolean release(K key) {
        Integer node = assigned.remove(Objects.requireNonNull(key, "key"));
        if (node == null) {
            return false;
        }
        loads[node]--;
        return true;
    }

    /** Current load per node, in node order. */
    public synchronized int[] loads() {
        return loads.clone();
    }

    private int place(long hash) {
        long capacity = (long) Math.ceil((1 + epsilon) * (assigned.size() + 1) / names.length);
        int start = firstAtOrAfter(hash);
        for (int step = 0; step < ring.length; step++) {
            int node = ringNode[(start + step) % ring.length];
            if (loads[node] < capacity) {
                return node;
            }
        }
        throw new IllegalStateException("no node under capacity " + capacity + " (cannot happen: epsilon > 0)");
    }

    private int firstAtOrAfter(long hash) {
        int lo = 0;
        int hi = ring.length; // first index with ring[i] >= hash (unsigned), or length → wrap to 0
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (Long.compareUnsigned(ring[mid], hash) < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo == ring.length ? 0 : lo;
    }

    /** Every node name {@link #place} can return, in the order given. */
    public Set<String> nodes() {
        return shards;
    }

    @Override
    public String toString() {
        return "LocalBoundedLoadPlacement" + shards + " epsilon " + epsilon;
    }
}
