package dev.headroom.benchmarks;

import dev.headroom.cache.RemoteStore;
import dev.headroom.cache.RemoteValue;
import dev.headroom.cache.TieredCache;
import dev.headroom.core.Codec;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cache's own CPU cost of an L2 hit, without the network: the same path as {@link
 * CacheL2HitBenchmark} (L1 entry expired, coalescing registration, guarded L2 read, header parse,
 * decode, L1 install) over a {@link RemoteStore} that answers at once from a map. The baseline is
 * what a raw client does with the same bytes once they arrive: a map read and a decode. On a real
 * Redis the round trip comes on top of both.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CacheMissPathBenchmark {

    private static final int KEYS = 256;
    private static final String VALUE = "x".repeat(200);

    /** Answers from a map, completed before it returns. */
    static final class InstantStore implements RemoteStore {
        final ConcurrentHashMap<String, RemoteValue> data = new ConcurrentHashMap<>();

        @Override
        public CompletionStage<RemoteValue> get(String key) {
            return CompletableFuture.completedFuture(data.getOrDefault(key, RemoteValue.ABSENT));
        }

        @Override
        public CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
            return CompletableFuture.completedFuture(0L);
        }

        @Override
        public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
            data.put(key, new RemoteValue(value, 1));
            return CompletableFuture.completedFuture(1L);
        }

        @Override
        public CompletionStage<Long> invalidate(String key) {
            data.remove(key);
            return CompletableFuture.completedFuture(1L);
        }

        @Override
        public CompletionStage<Void> clear() {
            data.clear();
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void close() {}
    }

    private final String[] keys = new String[KEYS];
    private final ConcurrentHashMap<String, byte[]> raw = new ConcurrentHashMap<>();
    private TieredCache<String, String> tiered;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
    }

    @Setup(Level.Trial)
    public void setUp() {
        tiered = BenchmarkCaches.everyReadFromL2("bench-miss-path", new InstantStore());
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
            tiered.put(keys[i], VALUE);
            raw.put(keys[i], Codec.utf8().encode(VALUE));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        tiered.close();
    }

    @Benchmark
    public String rawMapGetAndDecode(Cursor c) {
        return Codec.utf8().decode(Objects.requireNonNull(raw.get(keys[c.next++ & (KEYS - 1)])));
    }

    @Benchmark
    public @Nullable String tieredL2HitInstantStore(Cursor c) {
        return tiered.get(keys[c.next++ & (KEYS - 1)]);
    }
}
