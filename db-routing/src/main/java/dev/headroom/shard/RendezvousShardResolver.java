package dev.headroom.shard;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Weighted rendezvous (highest random weight) hashing over named nodes: each node scores the key
 * and the highest score wins. Removing a node moves only that node's keys; adding a node of weight
 * {@code w} to total weight {@code W} moves a {@code w / (W + w)} share of keys, all to it. Lookup
 * is O(nodes).
 *
 * <p>Definition (for other languages): {@code k = KeyHasher.hash(key)}, {@code n = XXH3-64(UTF-8
 * node name)}, {@code h = splitmix64Finalizer(k ^ n)}, {@code u = ((h >>> 11) + 0.5) / 2^53},
 * {@code score = -weight / ln(u)} (the logarithmic method of Schindelhauer and Schomaker, with
 * fdlibm's {@code log} via {@code StrictMath}); ties go to the node named first in sort order. With
 * equal weights the largest {@code h >>> 11} wins, which is the same node without the logarithm.
 *
 * @param <K> the key type
 */
public final class RendezvousShardResolver<K> implements ShardResolver<K> {
    private final KeyHasher<? super K> hasher;
    private final String[] names;
    private final long[] nodeHashes;
    private final double[] weights;
    private final boolean equalWeights;
    private final Set<String> shards;

    /**
     * @param hasher the key hash
     * @param weights node name → weight (positive and finite)
     * @throws IllegalArgumentException if there are no nodes, a name is blank, or a weight is not a
     *     positive finite number
     */
    public RendezvousShardResolver(KeyHasher<? super K> hasher, Map<String, Double> weights) {
        this.hasher = Objects.requireNonNull(hasher, "hasher");
        Objects.requireNonNull(weights, "weights");
        if (weights.isEmpty()) {
            throw new IllegalArgumentException("weights must name at least 1 node, got 0");
        }
        this.shards = ShardResolvers.uniqueNames("weights", weights.keySet());
        String[] sorted = weights.keySet().stream().sorted().toArray(String[]::new);
        this.names = sorted;
        this.nodeHashes = new long[sorted.length];
        this.weights = new double[sorted.length];
        for (int i = 0; i < sorted.length; i++) {
            Double w = weights.get(sorted[i]);
            if (w == null || !(w > 0) || w.isInfinite()) {
                throw new IllegalArgumentException(
                        "weights: node '" + sorted[i] + "' has weight " + w + "; weights must be positive and finite");
            }
            this.weights[i] = w;
            this.nodeHashes[i] = Xxh3.ofUtf8(sorted[i]);
        }
        boolean equal = true;
        for (double w : this.weights) {
            equal &= w == this.weights[0];
        }
        this.equalWeights = equal;
    }

    /** A node and its weight. */
    public record Node(String name, double weight) {}

    /**
     * From a list, so that a name given twice is reported rather than silently merged.
     *
     * @throws IllegalArgumentException if a node name repeats, or as the map constructor
     */
    public static <K> RendezvousShardResolver<K> of(KeyHasher<? super K> hasher, java.util.List<Node> nodes) {
        Map<String, Double> w = new LinkedHashMap<>();
        for (Node n : Objects.requireNonNull(nodes, "nodes")) {
            Objects.requireNonNull(n, "nodes element");
            if (w.put(Objects.requireNonNull(n.name(), "node name"), n.weight()) != null) {
                throw new IllegalArgumentException("nodes: node name '" + n.name() + "' appears twice");
            }
        }
        return new RendezvousShardResolver<>(hasher, w);
    }

    /** Equal weights. */
    public static <K> RendezvousShardResolver<K> unweighted(KeyHasher<? super K> hasher, Set<String> nodes) {
        Map<String, Double> w = new LinkedHashMap<>();
        for (String n : Objects.requireNonNull(nodes, "nodes")) {
            w.put(n, 1.0);
        }
        return new RendezvousShardResolver<>(hasher, w);
    }

    /** The splitmix64 finalizer (Stafford's variant 13). */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public String shardFor(K key) {
        long k = hasher.hash(Objects.requireNonNull(key, "key"));
        return names[equalWeights ? highestHash(k) : highestScore(k)];
    }

    /**
     * With equal weights the score only grows with {@code u}, which only grows with {@code h >>> 11}:
     * the same winner as {@link #highestScore} without a logarithm per node.
     */
    private int highestHash(long k) {
        int best = 0;
        long bestBits = -1;
        for (int i = 0; i < nodeHashes.length; i++) {
            long bits = mix(k ^ nodeHashes[i]) >>> 11;
            if (bits > bestBits) {
                bestBits = bits;
                best = i;
            }
        }
        return best;
    }

    /** {@code StrictMath.log}: the same bits on every JVM and platform, unlike {@code Math.log}. */
    private int highestScore(long k) {
        int best = 0;
        double bestScore = -1;
        for (int i = 0; i < nodeHashes.length; i++) {
            double u = ((mix(k ^ nodeHashes[i]) >>> 11) + 0.5) * 0x1.0p-53;
            double score = -weights[i] / StrictMath.log(u);
            if (score > bestScore) {
                bestScore = score;
                best = i;
            }
        }
        return best;
    }

    @Override
    public Set<String> shards() {
        return shards;
    }

    @Override
    public String strategy() {
        return "rendezvous";
    }

    @Override
    public String toString() {
        return "RendezvousShardResolver" + shards;
    }
}
