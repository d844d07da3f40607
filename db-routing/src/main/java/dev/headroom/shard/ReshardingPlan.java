package dev.headroom.shard;

import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * Which keys move, and where, when one topology is replaced by another; computed over a supplied
 * stream of keys (the keys that exist: tenant ids from a table, for example).
 *
 * <p>The migration recipe is in the README ("Resharding"): copy the moving keys, dual-write during
 * the window, cut over to the new resolver, then delete the old copies.
 */
public final class ReshardingPlan {

    /**
     * One key that changes shard.
     *
     * @param <K> the key type
     */
    public record Move<K>(K key, String from, String to) {}

    private final long keys;
    private final long moved;
    private final Map<String, Map<String, Long>> flows;
    private final Map<String, Long> before;
    private final Map<String, Long> after;

    private ReshardingPlan(
            long keys,
            long moved,
            Map<String, Map<String, Long>> flows,
            Map<String, Long> before,
            Map<String, Long> after) {
        this.keys = keys;
        this.moved = moved;
        this.flows = flows;
        this.before = before;
        this.after = after;
    }

    /**
     * Resolves every key under both topologies, hands each key that moves to {@code moves}, and
     * returns the statistics. Keys are not retained, so the stream can be larger than memory.
     *
     * @param from the current resolver
     * @param to the new resolver
     * @param keys every key that exists
     * @param moves receives each move, in key order
     */
    public static <K> ReshardingPlan compute(
            ShardResolver<K> from, ShardResolver<K> to, Iterable<? extends K> keys, Consumer<? super Move<K>> moves) {
        Objects.requireNonNull(from, "from");
        Objects.requireNonNull(to, "to");
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(moves, "moves");
        long total = 0;
        long moved = 0;
        Map<String, Map<String, Long>> flows = new TreeMap<>();
        Map<String, Long> before = new TreeMap<>();
        Map<String, Long> after = new TreeMap<>();
        for (K key : keys) {
            String a = from.shardFor(key);
            String b = to.shardFor(key);
            total++;
            before.merge(a, 1L, Long::sum);
            after.merge(b, 1L, Long::sum);
            if (!a.equals(b)) {
                moved++;
                flows.computeIfAbsent(a, x -> new TreeMap<>()).merge(b, 1L, Long::sum);
                moves.accept(new Move<>(key, a, b));
            }
        }
        flows.replaceAll((k, v) -> Collections.unmodifiableMap(v));
        return new ReshardingPlan(
                total,
                moved,
                Collections.unmodifiableMap(flows),
                Collections.unmodifiableMap(before),
                Collections.unmodifiableMap(after));
    }

    /** Keys examined. */
    public long keys() {
        return keys;
    }

    /** Keys that change shard. */
    public long moved() {
        return moved;
    }

    /** {@link #moved()} / {@link #keys()}; 0 for no keys. */
    public double movedFraction() {
        return keys == 0 ? 0 : (double) moved / keys;
    }

    /** Moving keys by source shard, then destination shard. */
    public Map<String, Map<String, Long>> flows() {
        return flows;
    }

    /** Keys per shard under the current topology. */
    public Map<String, Long> before() {
        return before;
    }

    /** Keys per shard under the new topology. */
    public Map<String, Long> after() {
        return after;
    }

    @Override
    public String toString() {
        return String.format(
                java.util.Locale.ROOT,
                "ReshardingPlan[%d of %d keys move (%.2f%%), flows %s]",
                moved,
                keys,
                100 * movedFraction(),
                flows);
    }
}
