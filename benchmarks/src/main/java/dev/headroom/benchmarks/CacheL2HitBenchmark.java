package dev.headroom.benchmarks;

import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
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
 * An L1 miss served from Redis by {@link TieredCache} beside a raw Lettuce {@code GET} plus UTF-8
 * decode of the same bytes, on the same local Redis ({@code HEADROOM_REDIS_URL} or
 * redis://127.0.0.1:6379). The tiered cache's TTL is 1 ns, so every read misses L1 and goes to
 * L2; the measured path includes the L1 insert that a real miss pays.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CacheL2HitBenchmark {

    private static final int KEYS = 256;
    private static final String VALUE = "x".repeat(200);

    private final String[] keys = new String[KEYS];
    private RedisClient client;
    private StatefulRedisConnection<String, byte[]> rawConnection;
    private TieredCache<String, String> tiered;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
    }

    @Setup(Level.Trial)
    public void setUp() {
        String uri = System.getenv().getOrDefault("HEADROOM_REDIS_URL", "redis://127.0.0.1:6379");
        client = RedisClient.create(uri);
        rawConnection = client.connect(RedisRemoteStore.CODEC);
        // The store uses the baseline's own connection: the same socket and event-loop thread, so
        // the two differ only by the cache's code. (Two clients built alike differ by up to ~10% on
        // this VM, depending on where their event-loop threads run.)
        RedisRemoteStore store = RedisRemoteStore.builder()
                .connection(rawConnection)
                .keyPrefix("bench:l2:")
                .build();
        tiered = BenchmarkCaches.everyReadFromL2("bench-l2", store);
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
            BenchmarkCaches.putAgeless(rawConnection, store, keys[i], VALUE);
            rawConnection.sync().set("bench:raw:" + keys[i], Codec.utf8().encode(VALUE));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        tiered.invalidateAll();
        tiered.close();
        rawConnection.close();
        client.shutdown();
    }

    @Benchmark
    public @Nullable String rawLettuceGetAndDecode(Cursor c) {
        byte[] bytes = rawConnection
                .async()
                .get("bench:raw:" + keys[c.next++ & (KEYS - 1)])
                .toCompletableFuture()
                .join();
        return Codec.utf8().decode(bytes);
    }

    @Benchmark
    public @Nullable String tieredL2Hit(Cursor c) {
        return tiered.get(keys[c.next++ & (KEYS - 1)]);
    }
}
