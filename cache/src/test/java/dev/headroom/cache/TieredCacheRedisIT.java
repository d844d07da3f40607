package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.RedisProcess;
import dev.headroom.testing.TestRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** TieredCache against real Redis from the test harness, and against a Redis of its own that it kills. */
@ExtendWith(HeadroomServices.class)
class TieredCacheRedisIT {

    /**
     * The longest any wait here may take. Generous on purpose: on a busy shared machine a Redis
     * round trip or a restart can be slow, and these tests prove what happens, not how fast.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static final Duration POLL = Duration.ofMillis(20);

    /**
     * Bound on each L2 call where L2 is meant to answer: a slow answer on a loaded machine counts as
     * an L2 failure and adds a load, which the exactly-once counts below would take for a bug.
     */
    private static final Duration L2_TIMEOUT = Duration.ofSeconds(10);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private TieredCacheBuilder<String, String> cacheOn(String uri, String prefix) {
        RedisRemoteStore store =
                RedisRemoteStore.builder().uri(uri).keyPrefix(prefix).build();
        closeables.add(store);
        return TieredCache.<String, String>builder("it")
                .ttl(Duration.ofMinutes(5))
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT);
    }

    private static ConditionFactory waiting() {
        return await().atMost(TIMEOUT).pollInterval(POLL);
    }

    private double count(String meter, String tag, String value) {
        return registry.find(meter).tag(tag, value).functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    @Test
    void sixtyFourThreadsOnOneColdKeyLoadItOnceForEachOfAThousandKeys(TestRedis redis) throws Exception {
        ConcurrentHashMap<String, AtomicInteger> loads = new ConcurrentHashMap<>();
        TieredCache<String, String> cache = cacheOn(redis.uri(), redis.keyPrefix())
                .loader(k -> {
                    loads.computeIfAbsent(k, x -> new AtomicInteger()).incrementAndGet();
                    return "v-" + k;
                })
                .build();
        int threads = 64;
        int keys = 1_000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        ConcurrentLinkedQueue<String> wrong = new ConcurrentLinkedQueue<>();
        try {
            CyclicBarrier barrier = new CyclicBarrier(threads);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    for (int k = 0; k < keys; k++) {
                        barrier.await(30, TimeUnit.SECONDS);
                        String value = cache.get("k" + k);
                        if (!("v-k" + k).equals(value)) {
                            wrong.add("k" + k + " -> " + value);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(5, TimeUnit.MINUTES);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(wrong).isEmpty();
        assertThat(loads).hasSize(keys);
        assertThat(loads.values()).allSatisfy(n -> assertThat(n.get()).isEqualTo(1));
    }

    @Test
    void anotherInstanceWithItsOwnConnectionIsServedFromL2(TestRedis redis) {
        AtomicInteger loadsB = new AtomicInteger();
        TieredCache<String, String> a =
                cacheOn(redis.uri(), redis.keyPrefix()).loader(k -> "from-a").build();
        TieredCache<String, String> b = cacheOn(redis.uri(), redis.keyPrefix())
                .meterRegistry(registry)
                .loader(k -> {
                    loadsB.incrementAndGet();
                    return "from-b";
                })
                .build();
        assertThat(a.get("product:1")).isEqualTo("from-a");
        waiting().until(() -> rawValue(redis, "product:1") != null);
        assertThat(b.get("product:1")).isEqualTo("from-a");
        assertThat(loadsB).hasValue(0);
        assertThat(count("headroom.cache.gets", "tier", "l2")).isEqualTo(1);
    }

    @Test
    void aSlowLoadOverlappingAnInvalidationOnAnotherInstanceNeverInstallsOldDataInRedis(TestRedis redis)
            throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TieredCache<String, String> slow = cacheOn(redis.uri(), redis.keyPrefix())
                .meterRegistry(registry)
                .loader(k -> {
                    loading.countDown();
                    release.await();
                    return "old";
                })
                .build();
        TieredCache<String, String> writer =
                cacheOn(redis.uri(), redis.keyPrefix()).loader(k -> "new").build();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<String> inFlight = pool.submit(() -> slow.get("k"));
            assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            writer.invalidate("k"); // the source changed while "old" was being read
            release.countDown();
            inFlight.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            waiting().until(() -> count("headroom.cache.l2.skipped", "reason", "fenced") == 1);
            assertThat(rawValue(redis, "k")).isNull();
            assertThat(writer.get("k")).isEqualTo("new");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void corruptBytesInRedisAreAMissAndAreOverwritten(TestRedis redis) {
        try (RedisRemoteStore raw = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build()) {
            raw.put("k", new byte[] {(byte) 0xFF, (byte) 0xFE}, Duration.ofMinutes(1))
                    .toCompletableFuture()
                    .join();
        }
        TieredCache<String, String> cache = cacheOn(redis.uri(), redis.keyPrefix())
                .meterRegistry(registry)
                .loader(k -> "good")
                .build();
        assertThat(cache.get("k")).isEqualTo("good");
        assertThat(count("headroom.cache.l2.errors", "kind", "corrupt")).isEqualTo(1);
        waiting().until(() -> "good".equals(rawValue(redis, "k")));
    }

    @Test
    void aForeignStringUnderThePrefixIsNeverServedNorOverwrittenByAFencedWrite(TestRedis redis) {
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, byte[]> c = client.connect(RedisRemoteStore.CODEC)) {
            String key = redis.keyPrefix() + "{k}";
            c.sync().set(key, "someone else's data".getBytes(StandardCharsets.UTF_8));
            TieredCache<String, String> cache = cacheOn(redis.uri(), redis.keyPrefix())
                    .meterRegistry(registry)
                    .loader(k -> "good")
                    .build();
            assertThat(cache.get("k")).isEqualTo("good");
            assertThat(new String(c.sync().get(key), StandardCharsets.UTF_8)).isEqualTo("someone else's data");
        } finally {
            client.shutdown();
        }
    }

    @Test
    void aRedisThatIsDownAtStartDoesNotPreventStartAndIsUsedOnceItIsUp() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            own.kill();
            // build() waits at most 2 s for a first connection (a refused one ends the wait at once),
            // then returns a store that serves without L2. TIMEOUT, 15 times that, is not a measure
            // of how fast, only of "it returns" on a loaded machine: a build that hung would fail it.
            RedisRemoteStore store = CompletableFuture.supplyAsync(() -> RedisRemoteStore.builder()
                            .uri(own.uri())
                            .keyPrefix("late:")
                            .build())
                    .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            closeables.add(store);
            assertThat(store.get("a").toCompletableFuture())
                    .as("a call while Redis is down fails at once, without waiting for it")
                    .isCompletedExceptionally();
            TieredCache<String, String> cache = TieredCache.<String, String>builder("late")
                    .ttl(Duration.ofMillis(50)) // short L1 life, so reads keep asking L2
                    .ttlJitter(0)
                    .earlyRefreshBeta(0)
                    .remote(store, Codec.utf8())
                    .l2BreakerOpenFor(Duration.ofMillis(200))
                    .meterRegistry(registry)
                    .loader(k -> "v-" + k)
                    .build();
            assertThat(cache.get("a")).isEqualTo("v-a");
            assertThat(count("headroom.cache.l2.errors", "kind", "failure")).isPositive();

            own.restart();
            waiting().until(() -> {
                cache.get("a");
                return count("headroom.cache.gets", "tier", "l2") > 0;
            });
        }
    }

    @Test
    void invalidateAllRetiresOnlyThisCachesValuesNotThoseOfAPrefixThatStartsTheSame(TestRedis redis) {
        TieredCache<String, String> mine =
                cacheOn(redis.uri(), redis.key("user")).loader(k -> "m").build();
        TieredCache<String, String> other =
                cacheOn(redis.uri(), redis.key("users:")).loader(k -> "o").build();
        for (int i = 0; i < 50; i++) {
            mine.put("k" + i, "put");
            other.put("k" + i, "put");
        }
        mine.invalidateAll();
        AtomicInteger mineLoads = new AtomicInteger();
        AtomicInteger otherLoads = new AtomicInteger();
        // fresh instances: nothing in L1, everything from Redis
        TieredCache<String, String> mineLater = cacheOn(redis.uri(), redis.key("user"))
                .loader(k -> {
                    mineLoads.incrementAndGet();
                    return "loaded";
                })
                .build();
        TieredCache<String, String> otherLater = cacheOn(redis.uri(), redis.key("users:"))
                .loader(k -> {
                    otherLoads.incrementAndGet();
                    return "loaded";
                })
                .build();
        for (int i = 0; i < 50; i++) {
            assertThat(mineLater.get("k" + i)).isEqualTo("loaded");
            assertThat(otherLater.get("k" + i)).as("the other cache's value").isEqualTo("put");
        }
        assertThat(mineLoads).hasValue(50);
        assertThat(otherLoads).hasValue(0);
    }

    @Test
    void asyncLoadersAndGetAsyncContinuationsNeverRunOnTheRedisIoThread(TestRedis redis) throws Exception {
        java.util.Set<String> loaderThreads = java.util.concurrent.ConcurrentHashMap.newKeySet();
        TieredCache<String, String> cache = cacheOn(redis.uri(), redis.key("io:"))
                .meterRegistry(registry)
                .asyncLoader(k -> {
                    loaderThreads.add(Thread.currentThread().getName());
                    return java.util.concurrent.CompletableFuture.completedFuture("v-" + k);
                })
                .build();
        closeables.add(cache);
        String continuation = cache.getAsync("k")
                .thenApply(v -> Thread.currentThread().getName())
                .get(TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
        assertThat(continuation).as("the caller's continuation").doesNotStartWith("lettuce");
        // a blocking get nested in a continuation: on the I/O thread it would wait for a reply that
        // thread itself has to read
        String nested = cache.getAsync("k2")
                .thenApply(v -> cache.get("k3"))
                .get(TIMEOUT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
        assertThat(nested).isEqualTo("v-k3");
        assertThat(loaderThreads).isNotEmpty().noneMatch(t -> t.startsWith("lettuce"));
        assertThat(count("headroom.cache.l2.errors", "kind", "failure")).isZero();
    }

    @Test
    void anL1EntryFilledFromRedisLivesNoLongerThanTheRedisValuesAge(TestRedis redis) {
        dev.headroom.core.testing.FakeTicker ticker = new dev.headroom.core.testing.FakeTicker();
        AtomicInteger loads = new AtomicInteger();
        TieredCache<String, String> cache = cacheOn(redis.uri(), redis.key("aged:"))
                .ttl(Duration.ofSeconds(10))
                .ttlJitter(0)
                .earlyRefreshBeta(0)
                .ticker(ticker)
                .meterRegistry(registry)
                .loader(k -> "loaded-" + loads.incrementAndGet())
                .build();
        closeables.add(cache);
        long now = System.currentTimeMillis();
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            // written by another instance 9 s ago: 1 s of its 10 s TTL left
            c.sync().set(redis.key("aged:{old}"), "5@" + (now - 9_000) + "|vnine-seconds-old");
            // written 60 s ago: past its whole life (ttl, no grace), though Redis still holds it
            c.sync().set(redis.key("aged:{ancient}"), "5@" + (now - 60_000) + "|vancient");
        } finally {
            client.shutdown();
        }
        assertThat(cache.get("old")).isEqualTo("nine-seconds-old");
        assertThat(count("headroom.cache.gets", "tier", "l2")).isEqualTo(1);
        ticker.advance(Duration.ofSeconds(2)); // past the 1 s the value had left: L1 must not answer
        cache.get("old");
        assertThat(count("headroom.cache.gets", "tier", "l2"))
                .as("the second read went past L1 (a fresh 10 s L1 entry would have answered it)")
                .isEqualTo(2);
        assertThat(cache.get("ancient")).as("never served: older than its TTL").isEqualTo("loaded-1");
        assertThat(loads).hasValue(1);
    }

    @Test
    void aForeignValueInTheGenerationKeyDoesNotTurnInvalidateAllIntoANoOp(TestRedis redis) {
        TieredCache<String, String> cache =
                cacheOn(redis.uri(), redis.key("g:")).loader(k -> "loaded").build();
        cache.put("k", "put");
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            c.sync().set(redis.key("g:generation"), "1e30"); // Lua reads it as a number, Java cannot
        } finally {
            client.shutdown();
        }
        cache.invalidateAll();
        TieredCache<String, String> later =
                cacheOn(redis.uri(), redis.key("g:")).loader(k -> "loaded").build();
        assertThat(later.get("k")).as("a fresh instance after the clear").isEqualTo("loaded");
        assertThat(cache.get("k")).isEqualTo("loaded");
    }

    /** How many SCAN calls this Redis has served since its start (INFO commandstats). */
    private static long scanCalls(TestRedis redis) {
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            for (String line : c.sync().info("commandstats").split("\r?\n")) {
                if (line.startsWith("cmdstat_scan:")) {
                    int start = line.indexOf("calls=") + "calls=".length();
                    return Long.parseLong(line.substring(start, line.indexOf(',', start)));
                }
            }
            return 0;
        } finally {
            client.shutdown();
        }
    }

    @Test
    void invalidateAllIsOneCommandEvenOverABigKeyspace(TestRedis redis) {
        // 200,000 other keys: a SCAN of the keyspace cannot finish within the default 200 ms L2 timeout
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            c.sync()
                    .eval(
                            "for i = 1, 200000 do redis.call('SET', ARGV[1] .. i, 'x') end return 0",
                            ScriptOutputType.INTEGER,
                            new String[0],
                            redis.key("filler:"));
        } finally {
            client.shutdown();
        }
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.key("c:"))
                .build();
        closeables.add(store);
        TieredCache<String, String> cache = TieredCache.<String, String>builder("big")
                .remote(store, Codec.utf8()) // the default l2Timeout (200 ms)
                .meterRegistry(registry)
                .loader(k -> "loaded")
                .build();
        closeables.add(cache);
        cache.put("k", "put");
        long scansBefore = scanCalls(redis);
        cache.invalidateAll();
        // Not a keyspace walk: a SCAN over 200,000 keys is 400 calls or more. The allowance is for
        // the odd SCAN another test's cleanup might make on this shared Redis meanwhile.
        assertThat(scanCalls(redis) - scansBefore)
                .as("SCAN calls made by invalidateAll")
                .isLessThan(50);
        assertThat(registry.get("headroom.cache.l2.repairs.pending").gauge().value())
                .as("a clear L2 did not take would be pending")
                .isZero();
        assertThat(count("headroom.cache.l2.errors", "kind", "failure")).isZero();
        assertThat(cache.get("k")).isEqualTo("loaded");
    }

    @Test
    void killingRedisMidRunFailsNoCallerAndL2IsUsedAgainAfterRestart() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            AtomicInteger loads = new AtomicInteger();
            TieredCache<String, String> cache = cacheOn(own.uri(), "fault:")
                    .meterRegistry(registry)
                    .ttl(Duration.ofMillis(50)) // short L1 life, so reads keep going to L2
                    .ttlJitter(0)
                    .earlyRefreshBeta(0)
                    .l2Ttl(Duration.ofMinutes(1))
                    .l2Timeout(Duration.ofMillis(200))
                    .l2BreakerOpenFor(Duration.ofMillis(300))
                    .loader(k -> {
                        loads.incrementAndGet();
                        return "v-" + k;
                    })
                    .build();
            AtomicBoolean running = new AtomicBoolean(true);
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger reads = new AtomicInteger();
            ExecutorService readers = Executors.newFixedThreadPool(4);
            try {
                for (int t = 0; t < 4; t++) {
                    readers.submit(() -> {
                        int i = 0;
                        while (running.get()) {
                            String key = "k" + (i++ % 20);
                            try {
                                if (!("v-" + key).equals(cache.get(key))) {
                                    failures.add(new AssertionError("wrong value for " + key));
                                }
                                reads.incrementAndGet();
                            } catch (Throwable e) {
                                failures.add(e);
                            }
                        }
                    });
                }
                waiting().until(() -> count("headroom.cache.gets", "tier", "l2") > 50);

                own.kill();
                int readsAtKill = reads.get();
                waiting()
                        .until(() -> count("headroom.cache.l2.errors", "kind", "failure") > 0
                                && count("headroom.cache.l2.errors", "kind", "breaker_open") > 0
                                && reads.get() > readsAtKill + 200);

                own.restart(); // empty: the next loads fill it again
                double l2HitsBefore = count("headroom.cache.gets", "tier", "l2");
                // L2 in use again: reads answered by it, and the breaker closed while they are. (Checked
                // while the readers run: a breaker left half-open by an L2 call that timed out on a
                // loaded machine closes only with the next calls.)
                waiting()
                        .until(() -> count("headroom.cache.gets", "tier", "l2") > l2HitsBefore + 50
                                && registry.get("headroom.cache.l2.breaker.state")
                                                .gauge()
                                                .value()
                                        == 0.0);
            } finally {
                running.set(false);
                readers.shutdown();
                assertThat(readers.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
            }
            assertThat(failures).as("no caller saw an exception").isEmpty();
        }
    }

    /** The value the store holds for {@code key}, read through the store's own format. */
    private static String rawValue(TestRedis redis, String key) {
        try (RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build()) {
            byte[] v = store.get(key).toCompletableFuture().join().value();
            return v == null ? null : new String(v, StandardCharsets.UTF_8);
        }
    }
}
