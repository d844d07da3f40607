package dev.headroom.benchmarks;

import com.dynatrace.hash4j.hashing.Hasher64;
import com.google.common.hash.Hashing;
import dev.headroom.shard.JumpShardResolver;
import dev.headroom.shard.KeyHasher;
import dev.headroom.shard.LocalBoundedLoadPlacement;
import dev.headroom.shard.RendezvousShardResolver;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Shard lookups for a long key, 16 shards, beside Guava's {@code Hashing.consistentHash} (over the
 * same XXH3 key hash and over Guava's own murmur3) in the same run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class ShardResolverBenchmark {

    private static final int SHARDS = 16;
    private static final int KEYS = 4096;
    /** The raw XXH3-64 (seed 0) the baseline uses; db-routing keeps hash4j out of its API. */
    private static final Hasher64 XXH3 = com.dynatrace.hash4j.hashing.Hashing.xxh3_64();

    private final long[] keys = new long[KEYS];
    private JumpShardResolver<Long> jump;
    private RendezvousShardResolver<Long> rendezvous;
    private RendezvousShardResolver<Long> rendezvousWeighted;
    private LocalBoundedLoadPlacement<Long> bounded;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
        long fresh = Long.MIN_VALUE;
    }

    @Setup(Level.Trial)
    public void setUp() {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < SHARDS; i++) {
            names.add("shard-" + i);
        }
        jump = new JumpShardResolver<>(KeyHasher.ofLong(), names);
        rendezvous = RendezvousShardResolver.unweighted(KeyHasher.ofLong(), Set.copyOf(names));
        java.util.Map<String, Double> weights = new java.util.LinkedHashMap<>();
        for (int i = 0; i < SHARDS; i++) {
            weights.put(names.get(i), 1.0 + (i % 4));
        }
        rendezvousWeighted = new RendezvousShardResolver<>(KeyHasher.ofLong(), weights);
        bounded = new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names, 0.25, 100);
        for (int i = 0; i < KEYS; i++) {
            keys[i] = i * 0x9E3779B97F4A7C15L;
            bounded.place(keys[i]);
        }
    }

    @Benchmark
    public int guavaConsistentHashOfXxh3(Cursor c) {
        return Hashing.consistentHash(XXH3.hashLongToLong(keys[c.next++ & (KEYS - 1)]), SHARDS);
    }

    @Benchmark
    public int guavaConsistentHashOfMurmur3(Cursor c) {
        return Hashing.consistentHash(Hashing.murmur3_128().hashLong(keys[c.next++ & (KEYS - 1)]), SHARDS);
    }

    @Benchmark
    public String jumpLongKey(Cursor c) {
        return jump.shardFor(keys[c.next++ & (KEYS - 1)]);
    }

    @Benchmark
    public String rendezvous16Nodes(Cursor c) {
        return rendezvous.shardFor(keys[c.next++ & (KEYS - 1)]);
    }

    @Benchmark
    public String rendezvous16NodesWeighted(Cursor c) {
        return rendezvousWeighted.shardFor(keys[c.next++ & (KEYS - 1)]);
    }

    /** A key already placed: what steady-state lookups cost. */
    @Benchmark
    public String boundedLoadKnownKey(Cursor c) {
        return bounded.place(keys[c.next++ & (KEYS - 1)]);
    }

    /** Placing a new key and releasing it again (the ring walk plus the bookkeeping). */
    @Benchmark
    public String boundedLoadPlaceAndRelease(Cursor c) {
        long key = c.fresh++;
        String shard = bounded.place(key);
        bounded.release(key);
        return shard;
    }
}
