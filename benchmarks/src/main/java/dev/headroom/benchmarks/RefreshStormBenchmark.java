package dev.headroom.benchmarks;

import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.Ticker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
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
 * A refresh storm on one hot key: the key is cached on 4 instances (each with its own Redis
 * connection), their shared clock moves past the TTL (stale-while-revalidate), and 64 concurrent
 * reads spread over the instances; the operation ends when every instance serves the refreshed
 * value. Reported: that time and {@code loads} — loader calls per refresh. {@code mode=lease} is
 * Headroom's coordinated refresh (one instance takes the key's lease, the others adopt its value);
 * {@code mode=perProcess} turns the lease off, so each instance refreshes on its own.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RefreshStormBenchmark {

    private static final int READERS = 64;
    private static final int INSTANCES = 4;
    private static final Duration TTL = Duration.ofSeconds(10);

    @Param({"lease", "perProcess"})
    public String mode = "lease";

    private final List<TieredCache<String, String>> caches = new ArrayList<>();
    private final AtomicLong keys = new AtomicLong();
    private final AtomicInteger loads = new AtomicInteger();
    private final AtomicLong now = new AtomicLong();
    private ExecutorService readers;

    @AuxCounters(AuxCounters.Type.EVENTS)
    @State(Scope.Thread)
    public static class Loads {
        /** Loader calls for refreshes in the iteration; divide by {@code refreshes}. */
        public long loads;
        /** Refresh storms in the iteration. */
        public long refreshes;

        @Setup(Level.Iteration)
        public void reset() {
            loads = 0;
            refreshes = 0;
        }
    }

    @Setup(Level.Trial)
    public void setUp() {
        String uri = System.getenv().getOrDefault("HEADROOM_REDIS_URL", "redis://127.0.0.1:6379");
        readers = Executors.newFixedThreadPool(READERS);
        Ticker clock = now::get;
        for (int i = 0; i < INSTANCES; i++) {
            RedisRemoteStore store = RedisRemoteStore.builder()
                    .uri(uri)
                    .keyPrefix("bench:refresh:")
                    .build();
            caches.add(TieredCache.<String, String>builder("refresh-" + i)
                    .remote(store, Codec.utf8())
                    .ticker(clock)
                    .ttl(TTL)
                    .ttlJitter(0)
                    .earlyRefreshBeta(0)
                    .staleWhileRevalidate(Duration.ofMinutes(10))
                    .l2LoadLease("lease".equals(mode) ? Duration.ofSeconds(2) : Duration.ZERO)
                    .l2LeasePollInterval(Duration.ofMillis(5))
                    .loader(this::query)
                    .build());
        }
    }

    private String query(String key) throws InterruptedException {
        int n = loads.incrementAndGet();
        Thread.sleep(20); // the database query the cache protects
        return key + "#" + n;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        caches.get(0).invalidateAll();
        caches.forEach(TieredCache::close);
        readers.shutdownNow();
    }

    @Benchmark
    public void refreshStorm(Loads counter) throws Exception {
        String key = "k" + keys.incrementAndGet();
        for (TieredCache<String, String> cache : caches) {
            cache.get(key); // warm: one load, the others fill from Redis
        }
        String warmed = Objects.requireNonNull(caches.get(0).get(key), "the loader returns a value");
        now.addAndGet(TTL.toNanos() + 1); // stale everywhere
        int before = loads.get();
        CountDownLatch start = new CountDownLatch(1);
        List<Future<String>> results = new ArrayList<>(READERS);
        for (int i = 0; i < READERS; i++) {
            TieredCache<String, String> cache = caches.get(i % INSTANCES);
            results.add(readers.submit(() -> {
                start.await();
                return cache.get(key);
            }));
        }
        start.countDown();
        for (Future<String> f : results) {
            f.get(10, TimeUnit.SECONDS);
        }
        for (TieredCache<String, String> cache : caches) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (warmed.equals(cache.getIfPresent(key))) { // the refresh has not reached it yet
                if (System.nanoTime() - deadline > 0) {
                    throw new IllegalStateException(cache.name() + " never served the refreshed value");
                }
                Thread.onSpinWait();
            }
        }
        counter.loads += loads.get() - before;
        counter.refreshes++;
        now.addAndGet(TimeUnit.MINUTES.toNanos(30)); // the next key starts cold
    }
}
