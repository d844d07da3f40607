package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.ref.WeakReference;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The cache's own logic with a fake ticker and an in-memory L2; TieredCacheRedisIT covers real Redis. */
class TieredCacheTest {

    /**
     * The longest any wait here may take: what runs in the background (loads, refreshes, L2 writes,
     * the repair and sweep tasks) may be slow on a busy shared machine, and these tests prove what it
     * does, not how fast. Awaitility polls every 100 ms by default, so a fast machine is not slowed.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final FakeTicker ticker = new FakeTicker();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final AtomicInteger loads = new AtomicInteger();
    private final AtomicInteger names = new AtomicInteger();

    @AfterEach
    void stopExecutor() {
        executor.shutdownNow();
    }

    /** nextDouble() always returns {@code value}: jitter and XFetch become deterministic. */
    private static RandomGenerator fixedRandom(double value) {
        return new RandomGenerator() {
            @Override
            public long nextLong() {
                return 0;
            }

            @Override
            public double nextDouble() {
                return value;
            }
        };
    }

    private TieredCacheBuilder<String, String> builder() {
        return TieredCache.<String, String>builder("test-" + names.incrementAndGet())
                .ticker(ticker)
                .executor(executor)
                .meterRegistry(registry)
                .ttl(Duration.ofSeconds(10))
                .ttlJitter(0)
                .earlyRefreshBeta(0);
    }

    private double count(String meter, String tag, String value) {
        return registry.find(meter).tag(tag, value).functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    @Test
    void withTheDefaultClockEntriesStillExpireWhileReadsAreHot() {
        AtomicInteger version = new AtomicInteger();
        try (TieredCache<String, String> cache = TieredCache.<String, String>builder("default-clock")
                .ttl(Duration.ofMillis(50))
                .ttlJitter(0)
                .earlyRefreshBeta(0)
                .loader(k -> k + "-" + version.incrementAndGet())
                .build()) {
            String first = cache.get("k");
            // A hot read loop is what switches the shared clock to sampled time; the entry must
            // still be replaced after its 50 ms lifetime (a sampled clock that stopped advancing
            // would keep it for ever; how soon is CoarseClockTest's business).
            await().atMost(TIMEOUT)
                    .pollDelay(Duration.ZERO)
                    .pollInterval(Duration.ofNanos(1))
                    .until(() -> !first.equals(cache.get("k")));
            assertThat(version.get()).isGreaterThanOrEqualTo(2);
        }
    }

    @Test
    void concurrentMissesOnOneKeyShareOneLoad() throws Exception {
        TieredCache<String, String> cache = builder()
                .loader(k -> {
                    loads.incrementAndGet();
                    Thread.yield();
                    return "v-" + k;
                })
                .build();
        int threads = 64;
        int keys = 300;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CyclicBarrier barrier = new CyclicBarrier(threads);
            List<Future<?>> done = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    for (int k = 0; k < keys; k++) {
                        barrier.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                        assertThat(cache.get("k" + k)).isEqualTo("v-k" + k);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(loads).hasValue(keys);
        assertThat(count("headroom.cache.loads", "result", "success")).isEqualTo(keys);
    }

    /**
     * 8 threads × 5,000 rounds over 8 keys: write the source, invalidate or put, read back; others
     * read meanwhile, so loads that began before each write are in flight when it lands. Invariant:
     * a read after a write returns that write's version or a newer one, from L1 or L2.
     */
    @Test
    void aReadAfterAWriteNeverSeesOlderDataUnderConcurrentLoads() throws Exception {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        java.util.concurrent.atomic.AtomicLongArray source = new java.util.concurrent.atomic.AtomicLongArray(8);
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .loader(k -> {
                    long version = source.get(Integer.parseInt(k));
                    Thread.yield(); // let writes overtake this load
                    return Long.toString(version);
                })
                .build();
        CyclicBarrier start = new CyclicBarrier(8);
        List<Future<?>> threads = new java.util.ArrayList<>();
        for (int t = 0; t < 8; t++) {
            threads.add(executor.submit(() -> {
                start.await();
                java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
                for (int i = 0; i < 5_000; i++) {
                    String key = Integer.toString(random.nextInt(8));
                    int op = random.nextInt(4);
                    if (op == 0) {
                        long written;
                        synchronized (source) { // writers are serialized, as a database row lock would
                            written = source.incrementAndGet(Integer.parseInt(key));
                            cache.invalidate(key);
                        }
                        String got = cache.get(key);
                        assertThat(Long.parseLong(got))
                                .as("read after invalidating version %d of key %s", written, key)
                                .isGreaterThanOrEqualTo(written);
                    } else if (op == 1) {
                        long written;
                        synchronized (source) {
                            written = source.incrementAndGet(Integer.parseInt(key));
                            cache.put(key, Long.toString(written));
                        }
                        assertThat(Long.parseLong(cache.get(key)))
                                .as("read after putting version %d of key %s", written, key)
                                .isGreaterThanOrEqualTo(written);
                    } else {
                        cache.get(key);
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : threads) {
            f.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void staleWhileRevalidateServesStaleAtOnceAndRefreshesExactlyOnce() throws Exception {
        CountDownLatch refreshMayFinish = new CountDownLatch(1);
        TieredCache<String, String> cache = builder()
                .staleWhileRevalidate(Duration.ofSeconds(5))
                .loader(k -> {
                    int n = loads.incrementAndGet();
                    if (n > 1) {
                        refreshMayFinish.await();
                    }
                    return "v" + n;
                })
                .build();
        assertThat(cache.get("a")).isEqualTo("v1");
        ticker.advance(Duration.ofSeconds(11)); // past ttl, inside grace

        for (int i = 0; i < 50; i++) {
            // the refresh is blocked, so returning at all proves no reader waits for it
            assertThat(cache.get("a")).isEqualTo("v1");
        }
        await().atMost(TIMEOUT).untilAtomic(loads, org.hamcrest.Matchers.equalTo(2));
        assertThat(count("headroom.cache.gets", "result", "stale")).isEqualTo(50);

        refreshMayFinish.countDown();
        await().atMost(TIMEOUT).until(() -> "v2".equals(cache.get("a")));
        assertThat(loads).hasValue(2);
        assertThat(count("headroom.cache.refreshes", "result", "success")).isEqualTo(1);
    }

    @Test
    void aReadPastGraceJoinsTheBackgroundRefreshInsteadOfLoadingAgain() throws Exception {
        CountDownLatch refreshMayFinish = new CountDownLatch(1);
        TieredCache<String, String> cache = builder()
                .staleWhileRevalidate(Duration.ofSeconds(5))
                .loader(k -> {
                    int n = loads.incrementAndGet();
                    if (n > 1) {
                        refreshMayFinish.await();
                    }
                    return "v" + n;
                })
                .build();
        assertThat(cache.get("a")).isEqualTo("v1");
        ticker.advance(Duration.ofSeconds(11)); // stale: this read starts the refresh
        assertThat(cache.get("a")).isEqualTo("v1");
        await().atMost(TIMEOUT).untilAtomic(loads, org.hamcrest.Matchers.equalTo(2));

        ticker.advance(Duration.ofSeconds(5)); // past grace while the refresh still runs
        Future<String> late = executor.submit(() -> cache.get("a"));
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.coalesced.waits", "scope", "process") == 1);
        refreshMayFinish.countDown();
        assertThat(late.get(30, TimeUnit.SECONDS)).isEqualTo("v2");
        assertThat(loads).as("the late read joined the refresh").hasValue(2);
    }

    @Test
    void aReadThatJoinsARefreshWhichFindsTheKeyInvalidatedGetsTheValueNotNothing() throws Exception {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        AtomicReference<String> source = new AtomicReference<>("v1");
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .staleWhileRevalidate(Duration.ofSeconds(5))
                .l2LoadLease(Duration.ofMinutes(5)) // outlasts the clock moves below
                .l2LeasePollInterval(Duration.ofMillis(10))
                .loader(k -> source.get())
                .build();
        assertThat(cache.get("k")).isEqualTo("v1");
        InMemoryRemoteStore other = store.secondInstance(); // another instance, refreshing k itself
        RemoteValue read = other.get("k").toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertThat(other.tryRefreshLease("k", "other", Duration.ofMinutes(5), read)
                        .toCompletableFuture()
                        .get(30, TimeUnit.SECONDS))
                .isTrue();
        ticker.advance(Duration.ofSeconds(11)); // stale: this read starts a refresh, which waits on the lease
        assertThat(cache.get("k")).isEqualTo("v1");
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.coalesced.waits", "scope", "cluster") == 1);

        ticker.advance(Duration.ofSeconds(5)); // past grace: the next read joins the refresh
        Future<String> late = executor.submit(() -> cache.get("k"));
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.coalesced.waits", "scope", "process") == 1);
        source.set("v2");
        other.invalidate("k").toCompletableFuture().get(30, TimeUnit.SECONDS); // the other instance's write
        other.releaseLease("k", "other").toCompletableFuture().get(30, TimeUnit.SECONDS); // and its refresh ends
        assertThat(late.get(30, TimeUnit.SECONDS))
                .as("the refresh found k invalidated; the read that joined it still gets k's value")
                .isEqualTo("v2");
    }

    @Test
    void refreshJoinsALoadAlreadyInFlightInsteadOfReplacingIt() throws Exception {
        CountDownLatch loadMayFinish = new CountDownLatch(1);
        CountDownLatch loading = new CountDownLatch(1);
        TieredCache<String, String> cache = builder()
                .loader(k -> {
                    int n = loads.incrementAndGet();
                    loading.countDown();
                    loadMayFinish.await();
                    return "v" + n;
                })
                .build();
        Future<String> first = executor.submit(() -> cache.get("a"));
        assertThat(loading.await(30, TimeUnit.SECONDS)).isTrue();
        CompletableFuture<String> refreshed = cache.refresh("a");
        loadMayFinish.countDown();
        assertThat(first.get(30, TimeUnit.SECONDS)).isEqualTo("v1");
        assertThat(refreshed.get(30, TimeUnit.SECONDS)).isEqualTo("v1");
        assertThat(loads).as("one load per key, refreshes included").hasValue(1);
        assertThat(cache.get("a")).isEqualTo("v1");
    }

    @Test
    void aFailedLoadIsReportedToItsCallersOnlyAndLogsNothingOutsideSlf4j() {
        java.util.logging.Logger caffeineLog = java.util.logging.Logger.getLogger("com.github.benmanes.caffeine");
        List<java.util.logging.LogRecord> records = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.logging.Handler capture = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        caffeineLog.addHandler(capture);
        try {
            AtomicInteger calls = new AtomicInteger();
            TieredCache<String, String> cache = builder()
                    .loader(k -> {
                        if (calls.incrementAndGet() == 1) {
                            throw new IllegalStateException("source down");
                        }
                        return "v";
                    })
                    .build();
            assertThatThrownBy(() -> cache.get("k"))
                    .isInstanceOf(CacheLoadException.class)
                    .hasRootCauseMessage("source down");
            assertThat(cache.get("k")).as("the failure is not cached").isEqualTo("v");
            assertThat(calls).hasValue(2);
            assertThat(records).as("Caffeine's own WARNING per failed load").isEmpty();
        } finally {
            caffeineLog.removeHandler(capture);
        }
    }

    @Test
    void aFailedRefreshIsNotRetriedUntilTheRetryDelayHasPassed() {
        AtomicInteger calls = new AtomicInteger();
        TieredCache<String, String> cache = builder()
                .staleWhileRevalidate(Duration.ofMinutes(5))
                .refreshRetryDelay(Duration.ofSeconds(2))
                .loader(k -> {
                    if (calls.incrementAndGet() > 1) {
                        throw new IllegalStateException("source down");
                    }
                    return "v1";
                })
                .build();
        assertThat(cache.get("hot")).isEqualTo("v1");
        ticker.advance(Duration.ofSeconds(12)); // stale, within grace
        assertThat(cache.get("hot")).isEqualTo("v1");
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.refreshes", "result", "failure") == 1);

        for (int i = 0; i < 1_000; i++) {
            assertThat(cache.get("hot")).isEqualTo("v1");
        }
        ticker.advance(Duration.ofMillis(1_999));
        assertThat(cache.get("hot")).isEqualTo("v1");
        assertThat(calls).as("no refresh while the retry delay runs").hasValue(2);

        ticker.advance(Duration.ofMillis(1));
        assertThat(cache.get("hot")).isEqualTo("v1");
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.refreshes", "result", "failure") == 2);
        assertThat(calls).hasValue(3);
    }

    @Test
    void aFailingRefreshKeepsServingStaleUntilGraceEnds() {
        AtomicInteger calls = new AtomicInteger();
        TieredCache<String, String> cache = builder()
                .staleWhileRevalidate(Duration.ofSeconds(5))
                .loader(k -> {
                    if (calls.incrementAndGet() > 1) {
                        throw new IllegalStateException("source down");
                    }
                    return "v1";
                })
                .build();
        assertThat(cache.get("a")).isEqualTo("v1");
        ticker.advance(Duration.ofSeconds(12));
        assertThat(cache.get("a")).isEqualTo("v1");
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.refreshes", "result", "failure") >= 1);
        assertThat(cache.get("a")).as("still stale, still served").isEqualTo("v1");

        ticker.advance(Duration.ofSeconds(4)); // 16 s: grace is over, the entry is gone
        assertThatThrownBy(() -> cache.get("a"))
                .isInstanceOf(CacheLoadException.class)
                .hasMessageContaining("cache 'test-")
                .hasRootCauseMessage("source down");
    }

    @Test
    void earlyRefreshFiresOnlyNearExpiryInProportionToLoadCost() {
        TieredCache<String, String> cache = builder()
                .earlyRefreshBeta(1.0)
                .random(fixedRandom(0.5)) // -ln(0.5) = 0.69: refresh when within 0.69 x load time
                .executor(Runnable::run)
                .loader(k -> {
                    int n = loads.incrementAndGet();
                    // the first load "takes" 1 s; the refresh finishes before the old entry expires
                    ticker.advance(n == 1 ? Duration.ofSeconds(1) : Duration.ofMillis(100));
                    return "v" + n;
                })
                .build();
        assertThat(cache.get("a")).isEqualTo("v1");
        ticker.advance(Duration.ofSeconds(9)); // 1 s before expiry: outside 0.69 s
        assertThat(cache.get("a")).isEqualTo("v1");
        assertThat(loads).hasValue(1);

        ticker.advance(Duration.ofMillis(500)); // 0.5 s before expiry: inside
        assertThat(cache.get("a")).isEqualTo("v1");
        assertThat(loads).hasValue(2);
        assertThat(count("headroom.cache.refreshes.early", "result", "started")).isEqualTo(1);
        assertThat(cache.get("a")).isEqualTo("v2");
    }

    @Test
    void ttlJitterShortensEachEntrysLifetime() {
        TieredCache<String, String> cache = builder()
                .ttlJitter(0.2)
                .random(fixedRandom(0.5)) // 10 s - 10% = 9 s
                .loader(k -> "v" + loads.incrementAndGet())
                .build();
        cache.get("a");
        ticker.advance(Duration.ofMillis(8_900));
        cache.get("a");
        assertThat(loads).hasValue(1);
        ticker.advance(Duration.ofMillis(200)); // 9.1 s: expired (no grace), loads again
        assertThat(cache.get("a")).isEqualTo("v2");
    }

    @Test
    void aNullFromTheLoaderIsCachedOnlyForTheNegativeTtl() {
        TieredCache<String, String> cache = builder()
                .negativeTtl(Duration.ofSeconds(2))
                .loader(k -> {
                    loads.incrementAndGet();
                    return null;
                })
                .build();
        assertThat(cache.get("missing")).isNull();
        assertThat(cache.get("missing")).isNull();
        assertThat(loads).hasValue(1);
        assertThat(count("headroom.cache.gets", "result", "negative")).isEqualTo(1);
        ticker.advance(Duration.ofSeconds(3));
        assertThat(cache.get("missing")).isNull();
        assertThat(loads).hasValue(2);

        TieredCache<String, String> uncached = builder()
                .loader(k -> {
                    loads.incrementAndGet();
                    return null;
                })
                .build();
        uncached.get("x");
        uncached.get("x");
        assertThat(loads).hasValue(4);
    }

    @Test
    void aFailedLoadIsNotCached() {
        AtomicInteger calls = new AtomicInteger();
        TieredCache<String, String> cache = builder()
                .loader(k -> {
                    if (calls.incrementAndGet() == 1) {
                        throw new java.io.IOException("flaky");
                    }
                    return "ok";
                })
                .build();
        assertThatThrownBy(() -> cache.get("a"))
                .isInstanceOf(CacheLoadException.class)
                .hasCauseInstanceOf(java.io.IOException.class);
        assertThat(cache.get("a")).isEqualTo("ok");
        assertThat(count("headroom.cache.loads", "result", "failure")).isEqualTo(1);
    }

    @Test
    void aLoadThatNeverCompletesIsAbandonedAtTheLoadTimeoutAndTheNextReaderLoadsAgain() {
        AtomicInteger calls = new AtomicInteger();
        CompletableFuture<String> never = new CompletableFuture<>();
        TieredCache<String, String> cache = builder()
                .loadTimeout(Duration.ofMillis(100))
                .asyncLoader(k -> calls.incrementAndGet() == 1 ? never : CompletableFuture.completedFuture("v-" + k))
                .build();
        CompletableFuture<String> first = cache.getAsync("k");
        CompletableFuture<String> joined = cache.getAsync("k"); // coalesced onto the wedged load
        await().atMost(TIMEOUT).until(() -> first.isDone() && joined.isDone());
        assertThat(first).isCompletedExceptionally();
        assertThat(joined).isCompletedExceptionally();
        assertThat(calls).as("both readers shared the one load").hasValue(1);
        // the key is not wedged: the next reader starts a new load, sync and async alike
        assertThat(cache.get("k")).isEqualTo("v-k");
        assertThat(calls).hasValue(2);
        never.complete("late"); // the abandoned load finishing late changes nothing
        assertThat(cache.get("k")).isEqualTo("v-k");
        assertThat(count("headroom.cache.loads", "result", "abandoned")).isEqualTo(1);
    }

    @Test
    void aSyncReadWaitsNoLongerThanItsRequestsDeadline() {
        CompletableFuture<String> slow = new CompletableFuture<>();
        AtomicInteger calls = new AtomicInteger();
        TieredCache<String, String> cache = builder()
                .loadTimeout(Duration.ofSeconds(3))
                .asyncLoader(k -> {
                    calls.incrementAndGet();
                    return slow;
                })
                .build();
        try (dev.headroom.core.RequestContext.Scope scope = dev.headroom.core.RequestContext.current()
                .withTimeout(Duration.ofMillis(50))
                .open()) {
            assertThatThrownBy(() -> cache.get("k"))
                    .isInstanceOf(CacheLoadException.class)
                    .hasRootCauseInstanceOf(java.util.concurrent.TimeoutException.class)
                    .hasStackTraceContaining("deadline");
        }
        slow.complete("v"); // the load went on for the others: it still lands
        assertThat(cache.get("k")).isEqualTo("v");
        assertThat(calls).hasValue(1);
    }

    @Test
    void aLeaseGrantedButAnsweredTooLateIsReleasedAndTheValueStillWrittenBackFenced() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        store.leases.set(true);
        store.nextLeaseAnswerLost.set(true); // Redis takes the lease; the reply misses l2Timeout
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .l2Timeout(Duration.ofMillis(50))
                .l2LoadLease(Duration.ofSeconds(30))
                .loader(k -> "v-" + k)
                .build();
        assertThat(cache.get("k")).isEqualTo("v-k");
        await().atMost(TIMEOUT).until(() -> store.data.containsKey("k"));
        assertThat(new String(store.data.get("k").value(), StandardCharsets.UTF_8))
                .as("the others waiting on the lease find the value")
                .isEqualTo("v-k");
        await().atMost(TIMEOUT).until(store.leaseHolders::isEmpty); // not left to expire in 30 s
    }

    @Test
    void anL2ThatNeverAnswersCostsItsTimeoutThenTheLoaderServes() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        store.hanging.set(true);
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .l2Timeout(Duration.ofMillis(50))
                .loader(k -> "loaded-" + k)
                .build();

        for (int i = 0; i < 3; i++) {
            long start = System.nanoTime();
            assertThat(cache.get("k" + i)).isEqualTo("loaded-k" + i);
            assertThat(System.nanoTime() - start)
                    .as("the L2 read waited for its timeout")
                    .isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(50));
        }
        assertThat(count("headroom.cache.l2.errors", "kind", "failure")).isGreaterThanOrEqualTo(3);
        assertThat(count("headroom.cache.loads", "result", "success")).isEqualTo(3);
    }

    @Test
    void aSecondInstanceReadsWhatTheFirstLoadedFromL2() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> a =
                builder().remote(store, Codec.utf8()).loader(k -> "from-a").build();
        TieredCache<String, String> b =
                builder().remote(store, Codec.utf8()).loader(k -> "from-b").build();
        assertThat(a.get("k")).isEqualTo("from-a");
        await().atMost(TIMEOUT)
                .until(() -> store.data.get("k") != null && store.data.get("k").value() != null);
        assertThat(b.get("k")).isEqualTo("from-a");
    }

    @Test
    void aLoadThatStartedBeforeAnInvalidationNeverWritesItsOlderValue() throws Exception {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .loader(k -> {
                    if (loads.incrementAndGet() == 1) {
                        loading.countDown();
                        release.await();
                        return "old";
                    }
                    return "new";
                })
                .build();
        Future<String> slow = executor.submit(() -> cache.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        cache.invalidate("k"); // the source changed while "old" was being read
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("old"); // that caller raced, fine
        // refused on this instance because the invalidation unregistered it (on another, by the version)
        await().atMost(TIMEOUT)
                .until(() -> count("headroom.cache.l2.skipped", "reason", "superseded")
                                + count("headroom.cache.l2.skipped", "reason", "fenced")
                        == 1);
        assertThat(store.data.get("k").value())
                .as("the older write did not land")
                .isNull();
        assertThat(cache.get("k")).as("L1 did not keep it either").isEqualTo("new");
    }

    @Test
    void corruptL2BytesAreAMissAndGetOverwritten() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        store.data.put("k", new RemoteValue(new byte[] {(byte) 0xC3, (byte) 0x28}, 3)); // invalid UTF-8
        TieredCache<String, String> cache =
                builder().remote(store, Codec.utf8()).loader(k -> "fresh").build();
        assertThat(cache.get("k")).isEqualTo("fresh");
        assertThat(count("headroom.cache.l2.errors", "kind", "corrupt")).isEqualTo(1);
        await().atMost(TIMEOUT)
                .until(() -> new String(store.data.get("k").value(), StandardCharsets.UTF_8).equals("fresh"));
    }

    @Test
    void aValueTooLargeForL2StaysInL1Only() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .maxL2ValueBytes(8)
                .loader(k -> "x".repeat(100))
                .build();
        assertThat(cache.get("big")).hasSize(100);
        assertThat(cache.get("big")).hasSize(100);
        assertThat(store.data.get("big")).isNull();
        assertThat(count("headroom.cache.l2.skipped", "reason", "oversize")).isEqualTo(1);
    }

    @Test
    void aDeadL2NeverFailsAReadAndTheBreakerStopsCallingIt() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        store.down.set(true);
        TieredCache<String, String> cache =
                builder().remote(store, Codec.utf8()).loader(k -> "v-" + k).build();
        for (int i = 0; i < 100; i++) {
            assertThat(cache.get("k" + i)).isEqualTo("v-k" + i);
        }
        assertThat(count("headroom.cache.l2.errors", "kind", "failure")).isPositive();
        assertThat(count("headroom.cache.l2.errors", "kind", "breaker_open")).isPositive();
        assertThat(store.calls.get())
                .as("the breaker spared the dead store most calls")
                .isLessThan(30);
        assertThat(registry.get("headroom.cache.l2.breaker.state").gauge().value())
                .isEqualTo(1.0);
    }

    @Test
    void invalidateAndPutTellTheCallerWhetherL2TookThem() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache =
                builder().remote(store, Codec.utf8()).loader(k -> "loaded").build();
        assertThat(cache.put("k", "v1")).isTrue();
        assertThat(cache.invalidate("k")).isTrue();
        store.down.set(true);
        assertThat(cache.put("k", "v2")).as("L2 refused the put").isFalse();
        assertThat(cache.invalidate("k")).as("L2 refused the invalidation").isFalse();
        assertThat(cache.invalidateAll()).as("L2 refused the clear").isFalse();
    }

    @Test
    void anOpenBreakerDoesNotRefuseWritesThatL2WouldTake() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .l2BreakerOpenFor(Duration.ofHours(1)) // open for the whole test
                .loader(k -> "v-" + k)
                .build();
        assertThat(cache.get("k")).isEqualTo("v-k");
        store.down.set(true);
        for (int i = 0; i < 20; i++) {
            assertThat(cache.get("other" + i)).isEqualTo("v-other" + i);
        }
        assertThat(registry.get("headroom.cache.l2.breaker.state").gauge().value())
                .as("open")
                .isEqualTo(1.0);
        store.down.set(false); // L2 is back; this instance's breaker does not know yet
        long before = store.data.get("k").version();

        assertThat(cache.invalidate("k")).as("the invalidation reached L2").isTrue();
        assertThat(store.data.get("k").version()).isGreaterThan(before);
        assertThat(store.data.get("k").value()).isNull();
        assertThat(cache.put("p", "put")).as("the put reached L2").isTrue();
        assertThat(new String(store.data.get("p").value(), StandardCharsets.UTF_8))
                .isEqualTo("put");
        assertThat(registry.get("headroom.cache.l2.repairs.pending").gauge().value())
                .isZero();
    }

    @Test
    void aClosedCacheIsNotKeptReachableByItsBackgroundTasks() {
        WeakReference<TieredCache<String, String>> closed = buildUseAndClose();
        await().atMost(TIMEOUT).until(() -> {
            System.gc();
            return closed.get() == null;
        });
    }

    private WeakReference<TieredCache<String, String>> buildUseAndClose() {
        TieredCache<String, String> cache = builder()
                .ttl(Duration.ofHours(1)) // its sweep runs once a minute
                .remote(new InMemoryRemoteStore(), Codec.utf8())
                .loader(k -> "v")
                .build();
        assertThat(cache.get("k")).isEqualTo("v");
        cache.close();
        return new WeakReference<>(cache);
    }

    @Test
    void getAllWithoutABulkLoaderWaitsForItsKeysTogetherNotOneAfterAnother() throws Exception {
        CountDownLatch allStarted = new CountDownLatch(3);
        CountDownLatch mayFinish = new CountDownLatch(1);
        TieredCache<String, String> cache = builder()
                .loader(k -> {
                    allStarted.countDown();
                    mayFinish.await();
                    return "v-" + k;
                })
                .build();
        Future<Map<String, String>> all = executor.submit(() -> cache.getAll(List.of("a", "b", "c")));
        assertThat(allStarted.await(30, TimeUnit.SECONDS))
                .as("the three loads run at once")
                .isTrue();
        mayFinish.countDown();
        assertThat(all.get(30, TimeUnit.SECONDS))
                .containsExactly(Map.entry("a", "v-a"), Map.entry("b", "v-b"), Map.entry("c", "v-c"));
    }

    @Test
    void afterTheBusSaysMessagesWereLostNoReadServesWhatL1HeldEvenBeforeL2Answers() throws Exception {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        CompletableFuture<Boolean> clearsAnswer = new CompletableFuture<>(); // L2 slow to answer
        AtomicReference<InvalidationBus.Listener> listener = new AtomicReference<>();
        AtomicReference<String> source = new AtomicReference<>("v1");
        TieredCache<String, String> cache = builder()
                .remote(
                        new ForwardingRemoteStore(store) {
                            @Override
                            public CompletionStage<Boolean> refreshClears() {
                                return clearsAnswer;
                            }
                        },
                        Codec.utf8())
                .l2Timeout(Duration.ofMinutes(5))
                .invalidationBus(new InvalidationBus() {
                    @Override
                    public void publish(String key, long version) {}

                    @Override
                    public void publishFlush() {}

                    @Override
                    public void subscribe(Listener l) {
                        listener.set(l);
                    }

                    @Override
                    public void close() {}
                })
                .keyDecoder(k -> k)
                .loader(k -> source.get())
                .build();
        assertThat(cache.get("k")).isEqualTo("v1");
        source.set("v2");
        assertThat(store.secondInstance()
                        .put("k", "v2".getBytes(StandardCharsets.UTF_8), Duration.ofMinutes(1))
                        .toCompletableFuture()
                        .get(30, TimeUnit.SECONDS))
                .isPositive(); // another instance's put; its message is the one lost

        listener.get().messagesMayHaveBeenLost();
        assertThat(cache.get("k"))
                .as("L1 is not trusted while the flush waits for L2")
                .isEqualTo("v2");
        clearsAnswer.complete(false);
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.l1.flushes", "reason", "all") == 1);
        assertThat(cache.get("k")).isEqualTo("v2");
    }

    @Test
    void theL2BreakerTakesAResilience4jConfigAndOpensByIt() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        store.down.set(true);
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .l2Breaker(io.github.resilience4j.circuitbreaker.CircuitBreakerConfig.custom()
                        .slidingWindowSize(2)
                        .minimumNumberOfCalls(2)
                        .failureRateThreshold(100)
                        .waitDurationInOpenState(Duration.ofHours(1))
                        .build())
                .loader(k -> "v-" + k)
                .build();
        assertThat(cache.get("a")).isEqualTo("v-a"); // the L2 read fails: 1 call
        assertThat(registry.get("headroom.cache.l2.breaker.state").gauge().value())
                .as("not open after one failure of a window of 2")
                .isZero();
        assertThat(cache.get("b")).isEqualTo("v-b"); // 2 of 2 failed: open
        assertThat(registry.get("headroom.cache.l2.breaker.state").gauge().value())
                .isEqualTo(1.0);
        int calls = store.calls.get();
        assertThat(cache.get("c")).isEqualTo("v-c");
        assertThat(store.calls.get())
                .as("an open breaker spares the store the read")
                .isEqualTo(calls);
        assertThatThrownBy(() -> builder()
                        .l2BreakerOpenFor(Duration.ofSeconds(1))
                        .l2Breaker(io.github.resilience4j.circuitbreaker.CircuitBreakerConfig.ofDefaults()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("l2BreakerOpenFor");
    }

    @Test
    void anAbsenceTakenFromTheLeaseHolderAndCachedIsStillDroppedByTheNextInvalidation() throws Exception {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        AtomicReference<String> source = new AtomicReference<>(null);
        AtomicReference<InvalidationBus.Listener> listener = new AtomicReference<>();
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .negativeTtl(Duration.ofMinutes(1))
                .l2LoadLease(Duration.ofMinutes(5))
                .l2LeasePollInterval(Duration.ofMillis(10))
                .invalidationBus(new InvalidationBus() {
                    @Override
                    public void publish(String key, long version) {}

                    @Override
                    public void publishFlush() {}

                    @Override
                    public void subscribe(Listener l) {
                        listener.set(l);
                    }

                    @Override
                    public void close() {}
                })
                .keyDecoder(k -> k)
                .loader(k -> source.get())
                .build();
        InMemoryRemoteStore other = store.secondInstance(); // the lease holder, on another instance
        RemoteValue read = other.get("k").toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertThat(other.tryLease("k", "holder", Duration.ofMinutes(5))
                        .toCompletableFuture()
                        .get(30, TimeUnit.SECONDS))
                .isTrue();
        Future<String> waiter = executor.submit(() -> cache.get("k"));
        await().atMost(TIMEOUT).until(() -> count("headroom.cache.coalesced.waits", "scope", "cluster") == 1);
        assertThat(other.putAbsentIfVersion("k", read, "holder", Duration.ofMinutes(5))
                        .toCompletableFuture()
                        .get(30, TimeUnit.SECONDS))
                .as("the holder found nothing")
                .isPositive();
        other.releaseLease("k", "holder").toCompletableFuture().get(30, TimeUnit.SECONDS);
        assertThat(waiter.get(30, TimeUnit.SECONDS))
                .as("the waiter takes the holder's answer")
                .isNull();
        assertThat(cache.get("k")).as("cached absence (negativeTtl)").isNull();

        source.set("created");
        long version = other.invalidate("k").toCompletableFuture().get(30, TimeUnit.SECONDS);
        listener.get().invalidated("k", version); // the creator's invalidation reaches this instance
        assertThat(cache.get("k")).as("the cached absence was dropped").isEqualTo("created");
        assertThat(count("headroom.cache.loads", "result", "success")).isEqualTo(1);
    }

    @Test
    void putAndInvalidateReachBothTiers() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache =
                builder().remote(store, Codec.utf8()).loader(k -> "loaded").build();
        cache.put("k", "put");
        assertThat(cache.get("k")).isEqualTo("put");
        assertThat(new String(store.data.get("k").value(), StandardCharsets.UTF_8))
                .isEqualTo("put");
        cache.invalidate("k");
        assertThat(store.data.get("k").value()).isNull();
        assertThat(cache.getIfPresent("k")).isNull();
        assertThat(cache.get("k")).isEqualTo("loaded");
        cache.invalidateAll();
        assertThat(cache.estimatedSize()).isZero();
        // a clear is a generation, as in Redis: the record stays until its TTL, unreadable
        assertThat(store.get("k").toCompletableFuture().join().value()).isNull();
    }

    private double pendingRepairs() {
        return registry.find("headroom.cache.l2.repairs.pending").gauges().stream()
                .mapToDouble(g -> g.value())
                .sum();
    }

    @Test
    void anInvalidationL2DidNotTakeIsRepairedAndItsOldL2ValueNeverServed() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        AtomicReference<String> source = new AtomicReference<>("v1");
        TieredCache<String, String> a =
                builder().remote(store, Codec.utf8()).loader(k -> source.get()).build();
        TieredCache<String, String> b =
                builder().remote(store, Codec.utf8()).loader(k -> source.get()).build();
        assertThat(a.get("k")).isEqualTo("v1");
        await().atMost(TIMEOUT)
                .until(() -> store.data.get("k") != null && store.data.get("k").value() != null);

        store.down.set(true);
        source.set("v2");
        a.invalidate("k"); // L2 does not take it: "v1" stays there
        assertThat(pendingRepairs()).isEqualTo(1);
        store.down.set(false);

        assertThat(a.get("k"))
                .as("a key waiting for its L2 invalidation is loaded, not read from L2")
                .isEqualTo("v2");
        await().atMost(TIMEOUT).until(() -> pendingRepairs() == 0);
        assertThat(count("headroom.cache.l2.repairs", "result", "applied")).isEqualTo(1);
        assertThat(b.get("k")).as("another instance never sees the old value").isEqualTo("v2");
    }

    @Test
    void aPutL2DidNotTakeLeavesNoOldValueInL2OnceRepaired() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> a =
                builder().remote(store, Codec.utf8()).loader(k -> "loaded").build();
        a.put("k", "v1");
        store.down.set(true);
        a.put("k", "v2");
        assertThat(a.get("k")).isEqualTo("v2");
        store.down.set(false);
        await().atMost(TIMEOUT).until(() -> pendingRepairs() == 0);
        assertThat(store.data.get("k").value()).as("v1 invalidated in L2").isNull();
    }

    @Test
    void aFailedInvalidateAllIsRepairedByAClearAndBypassesL2Meanwhile() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        AtomicReference<String> source = new AtomicReference<>("v1");
        TieredCache<String, String> a =
                builder().remote(store, Codec.utf8()).loader(k -> source.get()).build();
        a.put("x", "v1");
        a.put("y", "v1");
        store.down.set(true);
        source.set("v2");
        a.invalidateAll();
        store.down.set(false);
        assertThat(a.get("x"))
                .as("every L2 value may be stale until the clear lands")
                .isEqualTo("v2");
        await().atMost(TIMEOUT).until(() -> pendingRepairs() == 0);
        assertThat(store.get("y").toCompletableFuture().join().value())
                .as("retired by the clear")
                .isNull();
        assertThat(a.get("y")).isEqualTo("v2");
    }

    @Test
    void aValueTooLargeForL2InvalidatesTheOldOneThere() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .maxL2ValueBytes(8)
                .loader(k -> "loaded")
                .build();
        cache.put("k", "small");
        cache.put("k", "x".repeat(100));
        assertThat(store.data.get("k").value())
                .as("'small' must not outlive its replacement")
                .isNull();
        assertThat(cache.get("k")).hasSize(100);
    }

    @Test
    void getAllReturnsPresentValuesInOrder() {
        TieredCache<String, String> cache =
                builder().loader(k -> k.startsWith("none") ? null : "v-" + k).build();
        assertThat(cache.getAll(List.of("a", "none1", "b", "a")))
                .containsExactly(Map.entry("a", "v-a"), Map.entry("b", "v-b"));
    }

    @Test
    void getAllDoesNotServeTheL2ValueOfAKeyWhoseInvalidationIsPending() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        AtomicReference<String> source = new AtomicReference<>("v1");
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .bulkLoader(keys -> {
                    Map<String, String> found = new java.util.HashMap<>();
                    keys.forEach(k -> found.put(k, source.get()));
                    return found;
                })
                .build();
        cache.put("k", "v1");
        store.down.set(true);
        source.set("v2");
        cache.invalidate("k"); // "v1" stays in L2
        store.down.set(false);
        assertThat(cache.getAll(List.of("k"))).containsEntry("k", "v2");
    }

    @Test
    void aValueL1CannotTakeIsStillServedAndTheKeyIsNotLeftRegistered() {
        TieredCache<String, String> cache = builder()
                .maximumWeight(1_000, (k, v) -> {
                    if (v.equals("unweighable")) {
                        throw new IllegalStateException("weigher bug");
                    }
                    return 1;
                })
                .loader(k -> loads.incrementAndGet() == 1 ? "unweighable" : "fine")
                .build();
        assertThat(cache.get("k")).isEqualTo("unweighable");
        assertThat(cache.get("k"))
                .as("loaded again: nothing was cached, nothing left registered")
                .isEqualTo("fine");
        assertThat(cache.get("k")).isEqualTo("fine");
        assertThat(loads).hasValue(2);
        assertThatThrownBy(() -> cache.put("k", "unweighable")).hasMessageContaining("weigher bug");
    }

    @Test
    void aBulkLoaderReturningExtraKeysNeverDrivesTheLoadCountsNegative() {
        TieredCache<String, String> cache = builder()
                .bulkLoader(keys -> {
                    Map<String, String> found = new java.util.HashMap<>();
                    for (String k : keys) {
                        found.put(k, "v-" + k);
                        found.put(k + "-extra1", "x"); // more than asked for
                        found.put(k + "-extra2", "x");
                    }
                    return found;
                })
                .build();
        assertThat(cache.getAll(List.of("a", "b", "c"))).containsOnlyKeys("a", "b", "c");
        assertThat(count("headroom.cache.loads", "result", "success")).isEqualTo(3);
        assertThat(count("headroom.cache.loads", "result", "absent")).isZero();
    }

    @Test
    void getAllAnswersFromL1AndL2AndBulkLoadsOnlyTheRestInOneCall() {
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        List<java.util.Set<String>> bulkCalls = new java.util.concurrent.CopyOnWriteArrayList<>();
        TieredCache<String, String> other =
                builder().remote(store, Codec.utf8()).loader(k -> "l2-" + k).build();
        TieredCache<String, String> cache = builder()
                .remote(store, Codec.utf8())
                .bulkLoader(keys -> {
                    bulkCalls.add(keys);
                    Map<String, String> found = new java.util.HashMap<>();
                    keys.stream().filter(k -> !k.startsWith("none")).forEach(k -> found.put(k, "db-" + k));
                    return found;
                })
                .build();
        other.get("b"); // another instance put "b" in L2
        await().atMost(TIMEOUT).until(() -> store.data.containsKey("b"));
        cache.put("a", "l1-a");

        Map<String, String> all = cache.getAll(List.of("a", "b", "c", "none1", "d", "c"));

        assertThat(all)
                .containsExactly(
                        Map.entry("a", "l1-a"), Map.entry("b", "l2-b"), Map.entry("c", "db-c"), Map.entry("d", "db-d"));
        assertThat(bulkCalls).containsExactly(java.util.Set.of("c", "none1", "d"));
        await().atMost(TIMEOUT).until(() -> store.data.containsKey("c") && store.data.containsKey("d"));
        assertThat(cache.getAll(List.of("a", "b", "c", "d"))).hasSize(4);
        assertThat(bulkCalls).hasSize(1);
        assertThat(cache.get("e")).as("single reads use the bulk loader too").isEqualTo("db-e");
    }

    @Test
    void entriesPastTheirLifetimeAreSweptEvenIfNobodyReadsThemAgain() {
        TieredCache<String, String> cache = builder().loader(k -> "v-" + k).build();
        for (int i = 0; i < 3; i++) {
            cache.get("k" + i);
        }
        assertThat(cache.estimatedSize()).isEqualTo(3);
        ticker.advance(Duration.ofSeconds(11)); // past ttl, no grace
        // the sweep runs every max(1 s, lifetime / 2) of real time and judges by the fake ticker
        await().atMost(TIMEOUT).until(() -> cache.estimatedSize() == 0);
        assertThat(count("headroom.cache.evictions", "cause", "expired")).isEqualTo(3);
        cache.close();
    }

    @Test
    void closingACacheRemovesItsMetersSoTheNameCanBeUsedAgain() {
        TieredCache<String, String> first = TieredCache.<String, String>builder("reused")
                .meterRegistry(registry)
                .build();
        assertThat(registry.find("headroom.cache.gets").tag("cache", "reused").meters())
                .isNotEmpty();
        first.close();
        assertThat(registry.getMeters())
                .as("meters of a closed cache")
                .noneMatch(m -> "reused".equals(m.getId().getTag("cache")));
        try (TieredCache<String, String> second = TieredCache.<String, String>builder("reused")
                .meterRegistry(registry)
                .loader(k -> "v")
                .build()) {
            second.get("k");
            assertThat(registry.find("headroom.cache.loads")
                            .tag("cache", "reused")
                            .tag("result", "success")
                            .functionCounter()
                            .count())
                    .isEqualTo(1);
        }
    }

    @Test
    void twoCachesWithOneNameCannotShareARegistry() {
        TieredCache.<String, String>builder("dup").meterRegistry(registry).build();
        assertThatThrownBy(() -> TieredCache.<String, String>builder("dup")
                        .meterRegistry(registry)
                        .build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("'dup' already publishes metrics");
    }

    @Test
    void badInputIsRejectedNamingTheProblem() {
        TieredCache<String, String> noLoader = builder().build();
        assertThatThrownBy(() -> noLoader.get("a"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("without a loader");
        assertThatThrownBy(() -> noLoader.get(null, k -> "x")).hasMessageContaining("key");
        assertThatThrownBy(() -> noLoader.get("a", null)).hasMessageContaining("loader");
        assertThatThrownBy(() -> noLoader.put("a", null)).hasMessageContaining("value");
        assertThatThrownBy(() -> TieredCache.builder("bad name")).hasMessageContaining("name");
        assertThatThrownBy(() -> builder().ttl(Duration.ZERO)).hasMessageContaining("ttl");
        assertThatThrownBy(() -> builder().ttlJitter(1.0)).hasMessageContaining("ttlJitter");
        assertThatThrownBy(() -> builder().maximumSize(0)).hasMessageContaining("maximumSize");
        assertThatThrownBy(() -> builder().l2Ttl(Duration.ofSeconds(1)).build()).hasMessageContaining("l2Ttl");
    }

    @Test
    void conflictingSettingsAreRejectedNamingBoth() {
        assertThatThrownBy(() -> builder().maximumSize(10).maximumWeight(10, (k, v) -> 1))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("maximumSize")
                .hasMessageContaining("weight");
        assertThatThrownBy(() -> builder().maximumWeight(10, (k, v) -> 1).maximumSize(10))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("maximumWeight");
        assertThatThrownBy(() -> builder().loader(k -> "a").asyncLoader(k -> CompletableFuture.completedFuture("b")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("loader");
        assertThatThrownBy(() -> builder()
                        .asyncLoader(k -> CompletableFuture.completedFuture("b"))
                        .loader(k -> "a"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("asyncLoader");
        assertThatThrownBy(() -> builder()
                        .l2Timeout(Duration.ofSeconds(1))
                        .l2LoadLease(Duration.ofSeconds(1))
                        .build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("l2Timeout, l2LoadLease are set but no remote store is");
        assertThatThrownBy(() -> builder()
                        .remote(new InMemoryRemoteStore(), Codec.utf8())
                        .l1TtlWhileBusDown(Duration.ofSeconds(1))
                        .build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no invalidationBus");
    }

    @Test
    void aKeyThatEncodesToAnEmptyL2KeyIsRejectedAtTheCall() {
        TieredCache<String, String> cache = builder()
                .remote(new InMemoryRemoteStore(), Codec.utf8())
                .loader(k -> "v")
                .build();
        for (Runnable call : List.<Runnable>of(
                () -> cache.get(""),
                () -> cache.put("", "v"),
                () -> cache.invalidate(""),
                () -> cache.getAll(List.of("")))) {
            assertThatThrownBy(call::run)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("empty string");
        }
        assertThat(cache.get("a")).isEqualTo("v");
        TieredCache<String, String> l1Only = builder().loader(k -> "v").build();
        assertThat(l1Only.get(""))
                .as("an L1-only cache has no L2 key to worry about")
                .isEqualTo("v");
        assertThatThrownBy(() -> RedisRemoteStore.builder().keyPrefix("users{1}:"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("braces");
    }

    /** Found by the cache adversary: UTF-8 turned unpaired surrogates into '?', so two keys shared one Redis string. */
    @Test
    void aKeyWithAnUnpairedSurrogateIsRejectedAtTheCallAndPairedOnesWork() {
        TieredCache<String, String> cache = builder()
                .remote(new InMemoryRemoteStore(), Codec.utf8())
                .loader(k -> "v-" + k)
                .build();
        for (String bad : List.of("\uD800", "user-\uDC00", "a\uD800b", "\uDC00\uD800")) {
            assertThatThrownBy(() -> cache.get(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("unpaired UTF-16 surrogate");
            assertThatThrownBy(() -> cache.invalidate(bad)).hasMessageContaining("unpaired UTF-16 surrogate");
        }
        assertThat(cache.get("\uD83D\uDE00")).isEqualTo("v-\uD83D\uDE00"); // a pair: an emoji
        assertThat(cache.get("?")).isEqualTo("v-?");
        assertThatThrownBy(() -> RedisRemoteStore.builder().keyPrefix("p\uD800:"))
                .hasMessageContaining("surrogates");
    }

    /** Found by the cache adversary: durations past ~292 years overflowed nanoseconds later, naming nothing. */
    @Test
    void durationsTooLongToCountInNanosecondsAreRejectedNamingTheSetting() {
        Duration tooLong = Duration.ofDays(3651);
        assertThatThrownBy(() -> builder().ttl(tooLong)).hasMessageContaining("ttl must be at most 3650 days");
        assertThatThrownBy(() -> builder().l2LoadLease(tooLong)).hasMessageContaining("l2LoadLease");
        assertThatThrownBy(() -> builder().loadTimeout(tooLong)).hasMessageContaining("loadTimeout");
        assertThatThrownBy(() -> builder().staleWhileRevalidate(tooLong)).hasMessageContaining("staleWhileRevalidate");
        assertThatThrownBy(() -> RedisRemoteStore.builder().fenceTtl(Duration.ofNanos(500_000)))
                .hasMessageContaining("fenceTtl must be at least 1 ms");
        TieredCache<String, String> longest = builder()
                .remote(new InMemoryRemoteStore(), Codec.utf8())
                .l2LoadLease(TieredCacheBuilder.MAX_DURATION)
                .loadTimeout(TieredCacheBuilder.MAX_DURATION)
                .loader(k -> "v")
                .build();
        assertThat(longest.get("k")).isEqualTo("v");
    }

    /** Found by the cache adversary: a codec answering null made every get fail as "loader failed". */
    @Test
    void aCodecThatEncodesToNullKeepsTheValueInL1OnlyAndCountsAnL2Error() {
        Codec<String> broken = new Codec<>() {
            @Override
            public byte[] encode(String value) {
                return null;
            }

            @Override
            public String decode(byte[] bytes) {
                return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
            }

            @Override
            public String name() {
                return "null-encoding";
            }
        };
        InMemoryRemoteStore store = new InMemoryRemoteStore();
        TieredCache<String, String> cache =
                builder().remote(store, broken).loader(k -> "v").build();
        assertThat(cache.get("k")).isEqualTo("v");
        assertThat(store.data).isEmpty();
    }
}
