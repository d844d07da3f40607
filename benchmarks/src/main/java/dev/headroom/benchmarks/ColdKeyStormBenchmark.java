package dev.headroom.benchmarks;

import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A storm on one cold key: 64 concurrent reads spread over 4 cache instances (each with its own
 * Redis connection, as 4 app servers would have), against a loader that takes 20 ms like a real
 * query. Reported: time until every reader has its value, and {@code loads} — loader calls per
 * storm. {@code mode=lease} is Headroom's cluster-wide coalescing; {@code mode=perProcess} turns the
 * lease off (what in-process coalescing alone, e.g. {@code @Cacheable(sync=true)}, gives);
 * {@code mode=noCache} calls the loader directly from every reader.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ColdKeyStormBenchmark {

    private static final int READERS = 64;
    private static final int INSTANCES = 4;

    @Param({"lease", "perProcess", "noCache"})
    public String mode = "lease";

    private final List<TieredCache<String, String>> caches = new ArrayList<>();
    private final AtomicLong keys = new AtomicLong();
    private final AtomicInteger loads = new AtomicInteger();
    private ExecutorService readers;

    @AuxCounters(AuxCounters.Type.EVENTS)
    @State(Scope.Thread)
    public static class Loads {
        /** Loader calls in the iteration; divide by {@code storms} for loads per storm. */
        public long loads;
        /** Storms in the iteration. */
        public long storms;

        @Setup(Level.Iteration)
        public void reset() {
            loads = 0;
            storms = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        String uri = System.getenv().getOrDefault("HEADROOM_REDIS_URL", "redis://127.0.0.1:6379");
        readers = Executors.newFixedThreadPool(READERS);
        for (int i = 0; i < INSTANCES; i++) {
            RedisRemoteStore store = RedisRemoteStore.builder()
                    .uri(uri)
                    .keyPrefix("bench:storm:")
                    .build();
            caches.add(TieredCache.<String, String>builder("storm-" + i)
                    .remote(store, Codec.utf8())
                    .l2LoadLease("lease".equals(mode) ? Duration.ofSeconds(2) : Duration.ZERO)
                    .l2LeasePollInterval(Duration.ofMillis(5))
                    .loader(this::query)
                    .build());
        }
    }

    private String query(String key) throws InterruptedException {
        loads.incrementAndGet();
        Thread.sleep(20); // the database query the cache protects
        return "value-" + key;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        caches.get(0).invalidateAll();
        caches.forEach(TieredCache::close);
        readers.shutdownNow();
    }

    @Benchmark
    public void storm(Loads counter) throws Exception {
        String key = "k" + keys.incrementAndGet();
        int before = loads.get();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<String>> results = new ArrayList<>(READERS);
        for (int i = 0; i < READERS; i++) {
            TieredCache<String, String> cache = caches.get(i % INSTANCES);
            boolean direct = "noCache".equals(mode);
            results.add(readers.submit(() -> {
                start.await();
                return direct ? query(key) : cache.get(key);
            }));
        }
        start.countDown();
        for (Future<String> f : results) {
            f.get(10, TimeUnit.SECONDS);
        }
        counter.loads += loads.get() - before;
        counter.storms++;
    }
}
