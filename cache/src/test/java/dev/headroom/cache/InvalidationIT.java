package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.testing.FakeTicker;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.RedisProcess;
import dev.headroom.testing.TcpProxy;
import dev.headroom.testing.TestRedis;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.awaitility.core.ConditionFactory;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Cross-instance invalidation over real Redis pub/sub, with scripted late, replayed and lost messages. */
@ExtendWith(HeadroomServices.class)
class InvalidationIT {

    /**
     * The longest any wait here may take. Pub/sub promises delivery and order, not latency: on a
     * busy shared machine a message can take seconds. What these tests prove is what arrives and
     * what it does (counted by the {@code headroom.cache.invalidations} meters), not how fast.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static final Duration POLL = Duration.ofMillis(10);

    /**
     * Bound on each L2 call of the instances here (the default is 200 ms): an invalidation L2 took
     * too long to confirm on a loaded machine would be retried and announced again, and the counts
     * of messages below would be off by it.
     */
    private static final Duration L2_TIMEOUT = Duration.ofSeconds(10);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicReference<String> database = new AtomicReference<>("v1");
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void closeAll() throws Exception {
        pool.shutdownNow();
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private TieredCache<String, String> instance(TestRedis redis, String name, CacheLoader<String, String> loader) {
        return instance(redis, redis.uri(), name, loader);
    }

    /** An instance whose invalidation bus connects to {@code busUri} (the same Redis). */
    private TieredCache<String, String> instance(
            TestRedis redis, String busUri, String name, CacheLoader<String, String> loader) {
        return instance(redis, redis.uri(), busUri, name, loader);
    }

    /** An instance whose store and bus connect to the same Redis through the given URIs. */
    private TieredCache<String, String> instance(
            TestRedis redis, String storeUri, String busUri, String name, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(storeUri)
                .keyPrefix(redis.keyPrefix())
                .build();
        RedisInvalidationBus bus = RedisInvalidationBus.create(busUri, redis.key("invalidations"));
        TieredCache<String, String> cache = TieredCache.<String, String>builder(name)
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .l2Timeout(L2_TIMEOUT)
                .meterRegistry(registry)
                .loader(loader)
                .build();
        closeables.add(cache);
        // The bus waits 2 s for its subscription, then goes on subscribing in the background; a test
        // must not publish before Redis has it, or the message finds nobody to deliver it to.
        waiting().until(bus::isSubscribed);
        return cache;
    }

    private double count(String cache, String meter, String tag, String value) {
        return registry.find(meter)
                .tag("cache", cache)
                .tag(tag, value)
                .functionCounter()
                .count();
    }

    private static ConditionFactory waiting() {
        return await().atMost(TIMEOUT).pollInterval(POLL);
    }

    private void publishRaw(TestRedis redis, String message) {
        raw(redis, c -> c.publish(redis.key("invalidations"), message));
    }

    /** Runs one command on a connection of its own, past the caches. */
    private static <T> T raw(TestRedis redis, Function<RedisCommands<String, String>, T> command) {
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            return command.apply(c.sync());
        } finally {
            client.shutdown();
        }
    }

    @Test
    void aBusOnTheCallersOwnClientDeliversAndLeavesTheClientOpen(TestRedis redis) throws Exception {
        RedisClient client = RedisClient.create(); // the caller's: TLS, options, resources would go here
        try {
            RedisInvalidationBus bus = RedisInvalidationBus.create(client, List.of(redis.uri()), redis.key("own"));
            java.util.concurrent.ConcurrentLinkedQueue<String> received =
                    new java.util.concurrent.ConcurrentLinkedQueue<>();
            bus.subscribe(new InvalidationBus.Listener() {
                @Override
                public void invalidated(String key, long version) {
                    received.add(key);
                }

                @Override
                public void messagesMayHaveBeenLost() {}
            });
            waiting().until(bus::isDelivering);
            publishRaw(redis.uri(), redis.key("own"), "0123456789abcdef 1 7 k");
            waiting().until(() -> received.contains("k"));
            bus.close();
            try (StatefulRedisConnection<String, String> c =
                    client.connect(io.lettuce.core.RedisURI.create(redis.uri()))) {
                assertThat(c.sync().ping())
                        .as("the caller's client still works")
                        .isEqualTo("PONG");
            }
        } finally {
            client.shutdown();
        }
    }

    private static void publishRaw(String uri, String channel, String message) {
        RedisClient client = RedisClient.create(uri);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            c.sync().publish(channel, message);
        } finally {
            client.shutdown();
        }
    }

    @Test
    void whileTheBusIsDownL1EntriesLiveOnlyTheShortCapAndAGaugeShowsIt(TestRedis redis) {
        TcpProxy proxy =
                TcpProxy.start(redis.endpoint().host(), redis.endpoint().port());
        closeables.add(proxy);
        FakeTicker ticker = new FakeTicker();
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        RedisInvalidationBus bus =
                RedisInvalidationBus.create("redis://127.0.0.1:" + proxy.port(), redis.key("invalidations"));
        TieredCache<String, String> b = TieredCache.<String, String>builder("b")
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .l2Timeout(L2_TIMEOUT)
                .ticker(ticker)
                .ttl(Duration.ofMinutes(10))
                .l1TtlWhileBusDown(Duration.ofSeconds(2))
                .meterRegistry(registry)
                .loader(k -> database.get())
                .build();
        closeables.add(b);
        waiting().until(bus::isDelivering);
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        assertThat(registry.get("headroom.cache.bus.delivering")
                        .tag("cache", "b")
                        .gauge()
                        .value())
                .isEqualTo(1.0);

        proxy.cut(); // b's bus loses Redis; its store and a do not
        waiting().until(() -> !bus.isDelivering());
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= 1);
        assertThat(registry.get("headroom.cache.bus.delivering")
                        .tag("cache", "b")
                        .gauge()
                        .value())
                .isZero();
        assertThat(b.get("k")).isEqualTo("v1"); // read while deaf: capped
        assertThat(count("b", "headroom.cache.l1.capped", "reason", "bus_down")).isEqualTo(1);
        database.set("v2");
        assertThat(a.invalidate("k")).isTrue(); // b cannot hear it
        ticker.advance(Duration.ofMillis(1_999));
        assertThat(b.get("k"))
                .as("within the cap, the deaf instance may serve what it read")
                .isEqualTo("v1");
        ticker.advance(Duration.ofMillis(1));
        assertThat(b.get("k")).as("past the cap it reads again").isEqualTo("v2");

        proxy.restore();
        waiting().until(bus::isDelivering);
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= 2);
        assertThat(b.get("k")).isEqualTo("v2");
        double capped = count("b", "headroom.cache.l1.capped", "reason", "bus_down");
        ticker.advance(Duration.ofMinutes(1)); // delivering again: full lifetimes
        assertThat(b.get("k")).isEqualTo("v2");
        assertThat(count("b", "headroom.cache.l1.capped", "reason", "bus_down")).isEqualTo(capped);
        database.set("v3");
        a.invalidate("k");
        waiting().until(() -> "v3".equals(b.get("k")));
    }

    @Test
    void aStalledRedisStopsDeliveryUntilItAnswersAgain() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            RedisInvalidationBus bus = RedisInvalidationBus.create(own.uri(), "stall");
            closeables.add(bus);
            AtomicInteger losses = new AtomicInteger();
            bus.subscribe(new InvalidationBus.Listener() {
                @Override
                public void invalidated(String key, long version) {}

                @Override
                public void messagesMayHaveBeenLost() {
                    losses.incrementAndGet();
                }
            });
            waiting().until(bus::isDelivering);
            assertThat(losses).hasValue(0);
            RedisClient client = RedisClient.create(own.uri());
            try (StatefulRedisConnection<String, String> c = client.connect()) {
                Future<String> sleeping = pool.submit(() -> c.sync()
                        .dispatch(
                                CommandType.DEBUG,
                                new StatusOutput<>(StringCodec.UTF8),
                                new CommandArgs<>(StringCodec.UTF8).add("SLEEP").add(4)));
                waiting().until(() -> !bus.isDelivering()); // a ping went unanswered for a second
                waiting().until(() -> losses.get() == 1);
                sleeping.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } finally {
                client.shutdown();
            }
            waiting().until(bus::isDelivering);
            waiting().until(() -> losses.get() == 2); // flushed again once Redis answers
            assertThat(bus.isDelivering()).isTrue();
            assertThat(losses).as("once at the stall, once after it").hasValue(2);
        }
    }

    @Test
    void afterAReconnectDeliveryResumesOnlyOnceRedisConfirmedTheSubscription(TestRedis redis) {
        String bClient =
                "headroom-it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1);
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b =
                instance(redis, redis.uri() + "?clientName=" + bClient, "b", k -> database.get());
        for (int round = 1; round <= 10; round++) {
            assertThat(b.get("k")).isEqualTo(database.get());
            double flushes = count("b", "headroom.cache.l1.flushes", "reason", "all");
            killSubscriptions(redis, bClient);
            // the flush at the drop, then the one at the confirmed resubscription: nothing else waited on
            waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= flushes + 2);
            assertThat(b.get("k")).isEqualTo(database.get());
            database.set("v" + (round + 1));
            a.invalidate("k");
            String expected = database.get();
            waiting().until(() -> expected.equals(b.get("k")));
        }
    }

    @Test
    void anInvalidationRedisDidNotTakeIsNotReservedFromTheOldRedisValueByTheOthers(TestRedis redis) {
        TcpProxy proxy =
                TcpProxy.start(redis.endpoint().host(), redis.endpoint().port());
        closeables.add(proxy);
        // a's store reaches Redis through the proxy; its bus, and b, directly
        TieredCache<String, String> a =
                instance(redis, "redis://127.0.0.1:" + proxy.port(), redis.uri(), "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        assertThat(a.get("k")).isEqualTo("v1"); // Redis holds v1
        assertThat(b.get("k")).isEqualTo("v1");

        database.set("v2");
        proxy.cut(); // a's store loses Redis; the bus and b do not
        assertThat(a.invalidate("k")).as("Redis did not take a's invalidation").isFalse();
        waiting().until(() -> count("b", "headroom.cache.invalidations", "direction", "received") >= 1);
        assertThat(b.get("k"))
                .as("b was told to drop k: it must not reload Redis's old value")
                .isEqualTo("v2");
        assertThat(a.get("k")).isEqualTo("v2");

        proxy.restore(); // a's repair invalidates k in Redis and tells b the real version
        waiting()
                .until(() -> registry.find("headroom.cache.l2.repairs.pending")
                                .tag("cache", "a")
                                .gauge()
                                .value()
                        == 0);
        assertThat(a.get("k")).isEqualTo("v2");
        assertThat(b.get("k")).isEqualTo("v2");
    }

    @Test
    void anInvalidationOnOneInstanceStopsAnotherServingTheOldValue(TestRedis redis) {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        assertThat(b.get("k")).isEqualTo("v1");
        database.set("v2");
        a.invalidate("k");
        waiting().until(() -> "v2".equals(b.get("k")));
        assertThat(count("a", "headroom.cache.invalidations", "direction", "sent"))
                .isEqualTo(1);
        assertThat(count("b", "headroom.cache.invalidations", "direction", "received"))
                .isEqualTo(1);
    }

    @Test
    void aRedisThatIsDownAtStartDoesNotPreventStartAndInvalidationsFlowOnceItIsUp() {
        try (RedisProcess own = RedisProcess.start()) {
            own.kill();
            List<RedisInvalidationBus> buses = new ArrayList<>();
            List<TieredCache<String, String>> caches = new ArrayList<>();
            for (String name : List.of("late-a", "late-b")) {
                RedisRemoteStore store = RedisRemoteStore.builder()
                        .uri(own.uri())
                        .keyPrefix("late:")
                        .build();
                RedisInvalidationBus bus = RedisInvalidationBus.create(own.uri(), "late:invalidations");
                buses.add(bus);
                TieredCache<String, String> cache = TieredCache.<String, String>builder(name)
                        .remote(store, Codec.utf8())
                        .invalidationBus(bus)
                        .keyDecoder(Function.identity())
                        .l2BreakerOpenFor(Duration.ofMillis(200))
                        .meterRegistry(registry)
                        .loader(k -> database.get())
                        .build();
                closeables.add(cache);
                caches.add(cache);
            }
            assertThat(caches.get(1).get("k")).isEqualTo("v1");
            assertThat(buses.get(1).isSubscribed()).isFalse();

            database.set("v1.1"); // changed while Redis was down: nobody could be told
            own.restart();
            // Subscribed, and (a moment later) L1 flushed for what may have been missed meanwhile.
            waiting()
                    .until(() -> buses.stream().allMatch(RedisInvalidationBus::isSubscribed)
                            && count("late-b", "headroom.cache.l1.flushes", "reason", "all") >= 1);
            assertThat(caches.get(1).get("k"))
                    .as("subscribing late flushed L1, which may hold what was missed")
                    .isEqualTo("v1.1");
            database.set("v2");
            waiting().until(() -> {
                caches.get(0).invalidate("k"); // publishes once the publisher has connected too
                return "v2".equals(caches.get(1).get("k"));
            });
        }
    }

    private double gauge(String cache, String meter) {
        return registry.find(meter).tag("cache", cache).gauge().value();
    }

    /**
     * A partition between one instance and Redis: its invalidation cannot reach L2, whose old value
     * other instances would read back after the partition heals. The instance keeps the key and
     * applies the invalidation once Redis answers again.
     */
    @Test
    void anInvalidationMadeWhileCutOffFromRedisReachesL2AndTheOthersOnceReconnected(TestRedis redis) {
        try (TcpProxy proxy =
                TcpProxy.start(redis.endpoint().host(), redis.endpoint().port())) {
            String viaProxy = "redis://127.0.0.1:" + proxy.port();
            RedisRemoteStore cutOffStore = RedisRemoteStore.builder()
                    .uri(viaProxy)
                    .keyPrefix(redis.keyPrefix())
                    .build();
            TieredCache<String, String> a = TieredCache.<String, String>builder("a")
                    .remote(cutOffStore, Codec.utf8())
                    .invalidationBus(RedisInvalidationBus.create(viaProxy, redis.key("invalidations")))
                    .keyDecoder(Function.identity())
                    .l2Timeout(Duration.ofMillis(200))
                    .l2BreakerOpenFor(Duration.ofMillis(200))
                    .meterRegistry(registry)
                    .loader(k -> database.get())
                    .build();
            closeables.add(a);
            TieredCache<String, String> b = instance(redis, "b", k -> database.get());
            assertThat(b.get("k")).isEqualTo("v1");
            waiting().until(() -> rawL2(redis, "k") != null);
            assertThat(a.get("k")).isEqualTo("v1");

            proxy.cut();
            database.set("v2");
            a.invalidate("k");
            assertThat(gauge("a", "headroom.cache.l2.repairs.pending")).isEqualTo(1);
            assertThat(rawL2(redis, "k")).as("L2 did not take it").endsWith("|vv1");
            assertThat(a.get("k")).as("the instance itself loads meanwhile").isEqualTo("v2");

            proxy.restore();
            waiting().until(() -> "v2".equals(b.get("k")));
            waiting().until(() -> gauge("a", "headroom.cache.l2.repairs.pending") == 0);
            assertThat(count("a", "headroom.cache.l2.repairs", "result", "applied"))
                    .isGreaterThanOrEqualTo(1);
            assertThat(rawL2(redis, "k")).as("no old value left in L2").doesNotContain("|vv1");
            assertThat(a.get("k")).isEqualTo("v2");
        }
    }

    /** The raw L2 string of a key, read past the caches. */
    private static @Nullable String rawL2(TestRedis redis, String key) {
        return raw(redis, c -> c.get(redis.keyPrefix() + "{" + key + "}"));
    }

    @Test
    void invalidateAllOnOneInstanceFlushesTheOthersL1(TestRedis redis) {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        assertThat(b.get("k")).isEqualTo("v1");
        database.set("v2");
        a.invalidateAll();
        waiting().until(() -> "v2".equals(b.get("k")));
        assertThat(count("b", "headroom.cache.l1.flushes", "reason", "all")).isEqualTo(1);
    }

    @Test
    void aPutOnOneInstanceReplacesTheValueOnAnother(TestRedis redis) {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        assertThat(b.get("k")).isEqualTo("v1");
        a.put("k", "put-by-a");
        waiting().until(() -> "put-by-a".equals(b.get("k")));
    }

    @Test
    void versionsKeepGrowingAfterTheRedisRecordIsLostSoAnInstanceHoldingAnOldVersionStillDropsIt(TestRedis redis) {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        a.put("k", "v1");
        a.put("k", "v2"); // several writes: the record's version is past what a fresh count would give
        waiting().until(() -> "v2".equals(b.get("k"))); // b now holds v2, with its version, in L1
        double ignoredBefore = count("b", "headroom.cache.invalidations", "direction", "ignored_older");
        // The record is lost: expiry (l2Ttl), allkeys-lru eviction, FLUSHDB or a restart without
        // persistence all look like this to the next writer.
        raw(redis, c -> c.del(redis.key("{k}")));
        a.put("k", "v3");
        waiting().until(() -> "v3".equals(b.get("k")));
        assertThat(count("b", "headroom.cache.invalidations", "direction", "ignored_older"))
                .as("b must not take the new write's message for an old one")
                .isEqualTo(ignoredBefore);
    }

    @Test
    void concurrentInvalidationsFromOneInstanceAreNotMistakenForLostMessages(TestRedis redis) throws Exception {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        instance(redis, "b", k -> database.get());
        int threads = 8;
        int perThread = 1_000;
        CountDownLatch start = new CountDownLatch(1);
        List<Future<?>> writers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int thread = t;
            writers.add(pool.submit(() -> {
                start.await();
                for (int i = 0; i < perThread; i++) {
                    a.invalidate("t" + thread + "-k" + i);
                }
                return null;
            }));
        }
        start.countDown();
        for (Future<?> w : writers) {
            w.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        }
        waiting()
                .until(() ->
                        count("b", "headroom.cache.invalidations", "direction", "received") == threads * perThread);
        // nothing was lost, so nothing may look lost: each flush would empty b's whole L1
        assertThat(count("b", "headroom.cache.l1.flushes", "reason", "all")).isZero();
    }

    /** The value Redis holds for a cache key, or null: what every instance must end up serving. */
    private static @Nullable String redisValue(TestRedis redis, String key) {
        String raw = raw(redis, c -> c.get(redis.key("{" + key + "}")));
        if (raw == null) {
            return null;
        }
        int bar = raw.indexOf('|');
        return raw.charAt(bar + 1) == 'v' ? raw.substring(bar + 2) : null;
    }

    /** One operation of a race: what a thread does to a key once the start signal is given. */
    private interface Racer {
        void run(String key) throws Exception;
    }

    /**
     * Runs {@code racers} at once on a new key, {@code rounds} times, and returns the keys whose L1
     * value on {@code cache} is not the one Redis kept after the race.
     */
    private List<String> disagreementsAfterRaces(
            TestRedis redis, TieredCache<String, String> cache, int rounds, List<Racer> racers) throws Exception {
        List<String> disagreements = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            String key = "k" + round;
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> running = new ArrayList<>();
            for (Racer racer : racers) {
                running.add(pool.submit(() -> {
                    start.await();
                    racer.run(key);
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : running) {
                f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            }
            String inRedis = redisValue(redis, key);
            String inL1 = cache.get(key);
            if (!java.util.Objects.equals(inRedis, inL1)) {
                disagreements.add(key + ": L1 " + inL1 + ", Redis " + inRedis);
            }
        }
        return disagreements;
    }

    @Test
    void concurrentPutsOfOneKeyOnOneInstanceLeaveItsL1AgreeingWithRedis(TestRedis redis) throws Exception {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        List<Racer> writers = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            String value = "t" + t;
            writers.add(key -> a.put(key, value));
        }
        assertThat(disagreementsAfterRaces(redis, a, 100, writers))
                .as("keys whose L1 value is not the one the last put left in Redis")
                .isEmpty();
    }

    @Test
    void aRefreshRacingAPutOnOneInstanceLeavesItsL1AgreeingWithRedis(TestRedis redis) throws Exception {
        AtomicInteger calls = new AtomicInteger();
        TieredCache<String, String> a = instance(redis, "a", k -> "loaded-" + calls.incrementAndGet());
        List<Racer> racers =
                List.of(key -> a.put(key, "put"), key -> a.refresh(key).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
        assertThat(disagreementsAfterRaces(redis, a, 200, racers))
                .as("keys whose L1 value is not what Redis kept")
                .isEmpty();
    }

    @Test
    void aLoadAbandonedAtLoadTimeoutNeverOverwritesTheNewerValueInRedis(TestRedis redis) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        TieredCache<String, String> a = TieredCache.<String, String>builder("a")
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT)
                .l2LoadLease(Duration.ZERO)
                .loadTimeout(Duration.ofMillis(200))
                .meterRegistry(registry)
                .loader(k -> {
                    if (calls.incrementAndGet() == 1) {
                        release.await(); // slow: abandoned at loadTimeout, finishes later with old data
                        return "late";
                    }
                    return "fresh";
                })
                .build();
        closeables.add(a);
        Future<String> first = pool.submit(() -> a.get("k"));
        waiting().until(first::isDone); // failed: abandoned
        assertThat(a.get("k")).isEqualTo("fresh"); // the next read loaded again and wrote "fresh"
        waiting().until(() -> "fresh".equals(redisValue(redis, "k")));
        release.countDown(); // the abandoned load finishes with "late" and must not write it back
        waiting()
                .until(() -> count("a", "headroom.cache.l2.skipped", "reason", "fenced")
                                + count("a", "headroom.cache.l2.skipped", "reason", "superseded")
                        >= 1);
        assertThat(redisValue(redis, "k")).as("Redis keeps the newer value").isEqualTo("fresh");
    }

    @Test
    void putsRacingOnTwoInstancesEndWithBothServingWhatRedisHolds(TestRedis redis) throws Exception {
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        int rounds = 100;
        for (int round = 0; round < rounds; round++) {
            String key = "k" + round;
            CountDownLatch start = new CountDownLatch(1);
            Future<?> onA = pool.submit(() -> {
                start.await();
                a.put(key, "a");
                return null;
            });
            Future<?> onB = pool.submit(() -> {
                start.await();
                b.put(key, "b");
                return null;
            });
            start.countDown();
            onA.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            onB.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        }
        // every put's message delivered to the other instance
        waiting()
                .until(() -> count("a", "headroom.cache.invalidations", "direction", "received") == rounds
                        && count("b", "headroom.cache.invalidations", "direction", "received") == rounds);
        List<String> disagreements = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            String key = "k" + round;
            String inRedis = redisValue(redis, key);
            String onA = a.get(key);
            String onB = b.get(key);
            if (!java.util.Objects.equals(inRedis, onA) || !java.util.Objects.equals(inRedis, onB)) {
                disagreements.add(key + ": a " + onA + ", b " + onB + ", Redis " + inRedis);
            }
        }
        assertThat(disagreements)
                .as("keys the instances disagree on after the bus delivered")
                .isEmpty();
    }

    /**
     * Found by the separate-process checker (seed 11, under memory pressure): a load that read the
     * key absent wrote its older value after another instance's invalidation, because the
     * invalidation's tombstone had been evicted meanwhile and the key read as absent again. The
     * write-back of a load that read "absent" must be fenced on its lease, which every write ends.
     */
    @Test
    void aLoadThatReadTheKeyAbsentNeverWritesBackAfterTheInvalidationsTombstoneIsLost(TestRedis redis)
            throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        // a hears no bus: its write-back reaches Redis before the invalidation's message reaches it
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        TieredCache<String, String> a = TieredCache.<String, String>builder("a")
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT)
                .meterRegistry(registry)
                .loader(k -> {
                    String read = database.get(); // reads v1 ...
                    loading.countDown();
                    release.await(); // ... and returns it after the invalidation
                    return read;
                })
                .build();
        closeables.add(a);
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        Future<String> slow = pool.submit(() -> a.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        database.set("v2");
        b.invalidate("k");
        // the tombstone is lost: allkeys-lru eviction, FLUSHDB or a restart without persistence
        raw(redis, c -> c.del(redis.key("{k}")));
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v1"); // its caller asked before
        // its write-back, refused or (the defect) written
        waiting()
                .until(() -> count("a", "headroom.cache.l2.skipped", "reason", "fenced") >= 1
                        || redisValue(redis, "k") != null);
        assertThat(redisValue(redis, "k"))
                .as("Redis must not hold the load's older value")
                .isNull();
        assertThat(b.get("k")).isEqualTo("v2");
    }

    @Test
    void aReplayedOrDelayedOlderInvalidationNeitherEvictsNorInstallsAnything(TestRedis redis) {
        AtomicInteger loads = new AtomicInteger();
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> {
            loads.incrementAndGet();
            return database.get();
        });
        a.put("k", "new"); // version 1 in L2
        // The put's own message too: it reaches b before or after b read "new" from L2 (publishing
        // does not wait), and is ignored as not newer in the second case; either way, it is counted
        // before the old messages are sent.
        waiting()
                .until(() -> "new".equals(b.get("k"))
                        && count("b", "headroom.cache.invalidations", "direction", "received") == 1);
        int loadsBefore = loads.get();
        double ignoredBefore = count("b", "headroom.cache.invalidations", "direction", "ignored_older");
        // An old message (version 0 < 1), e.g. delayed in a proxy or replayed by a broken publisher.
        publishRaw(redis, "feedfacefeedface 1 0 k");
        publishRaw(redis, "feedfacefeedface 1 0 k"); // and its duplicate
        waiting()
                .until(() ->
                        count("b", "headroom.cache.invalidations", "direction", "ignored_older") == ignoredBefore + 2);
        assertThat(b.get("k")).isEqualTo("new");
        assertThat(loads).hasValue(loadsBefore);
    }

    @Test
    void aLoadInFlightDuringInvalidateAllNeverWritesAValueReadableAfterIt(TestRedis redis) throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TieredCache<String, String> a = instance(redis, "a", k -> {
            String read = database.get(); // reads v1 ...
            loading.countDown();
            release.await(); // ... and returns it after the clear
            return read;
        });
        Future<String> slow = pool.submit(() -> a.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        database.set("v2");
        a.invalidateAll();
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v1"); // its caller asked before
        // its write-back: refused here (the clear unregistered the load), or stamped with the old
        // generation if it had got through
        waiting()
                .until(() -> count("a", "headroom.cache.l2.skipped", "reason", "superseded")
                                        + count("a", "headroom.cache.l2.skipped", "reason", "fenced")
                                >= 1
                        || rawL2(redis, "k") != null);
        TieredCache<String, String> later = instance(redis, "later", k -> database.get());
        assertThat(later.get("k"))
                .as("a value loaded before the clear, read after it")
                .isEqualTo("v2");
        assertThat(a.get("k")).isEqualTo("v2");
    }

    @Test
    void aSlowLoadThatStartedBeforeAnInvalidationIsNotKept(TestRedis redis) throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger bLoads = new AtomicInteger();
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, "b", k -> {
            if (bLoads.incrementAndGet() == 1) {
                String read = database.get(); // reads v1 ...
                loading.countDown();
                release.await(); // ... and is slow to return it
                return read;
            }
            return database.get();
        });
        Future<String> slow = pool.submit(() -> b.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        database.set("v2");
        a.invalidate("k");
        waiting().until(() -> count("b", "headroom.cache.invalidations", "direction", "received") == 1);
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v1"); // that caller raced the write
        assertThat(b.get("k")).as("but v1 was not installed").isEqualTo("v2");
        assertThat(a.get("k")).isEqualTo("v2");
    }

    @Test
    void aGapInAPublishersSequenceFlushesL1(TestRedis redis) {
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        b.get("k");
        publishRaw(redis, "0123456789abcdef 1 5 other");
        publishRaw(redis, "0123456789abcdef 4 6 other"); // 2 and 3 never arrived
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= 1);
        assertThat(b.getIfPresent("k")).isNull();
    }

    /** How many connections Redis has subscribed to the test's invalidation channel. */
    private static long subscribers(TestRedis redis) {
        return raw(redis, c -> c.pubsubNumsub(redis.key("invalidations"))).getOrDefault(redis.key("invalidations"), 0L);
    }

    /**
     * Kills the subscribed connections of the clients named {@code clientName}, and only those:
     * Redis is shared with other tests and builds, whose subscriptions must not drop with ours.
     */
    private static void killSubscriptions(TestRedis redis, String clientName) {
        long killed = raw(redis, c -> {
            long n = 0;
            for (String client : c.clientList().split("\n")) {
                Map<String, String> fields = new HashMap<>();
                for (String field : client.trim().split(" ")) {
                    int eq = field.indexOf('=');
                    if (eq > 0) {
                        fields.put(field.substring(0, eq), field.substring(eq + 1));
                    }
                }
                if (clientName.equals(fields.get("name")) && !"0".equals(fields.getOrDefault("sub", "0"))) {
                    n += c.clientKill(KillArgs.Builder.id(Long.parseLong(fields.get("id"))));
                }
            }
            return n;
        });
        assertThat(killed).as("subscriptions of %s killed", clientName).isEqualTo(1);
    }

    @Test
    void aDroppedSubscriptionFlushesL1AndInvalidationsFlowAgainAfterReconnect(TestRedis redis) {
        String bClient =
                "headroom-it-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1);
        TieredCache<String, String> a = instance(redis, "a", k -> database.get());
        TieredCache<String, String> b =
                instance(redis, redis.uri() + "?clientName=" + bClient, "b", k -> database.get());
        assertThat(b.get("k")).isEqualTo("v1");
        assertThat(subscribers(redis)).isEqualTo(2); // a's and b's
        killSubscriptions(redis, bClient);
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= 1);
        assertThat(b.getIfPresent("k")).isNull();
        assertThat(b.get("k")).isEqualTo("v1");
        // Lettuce reconnects and resubscribes by itself (and the reconnect flushes L1 once more).
        // Reconnected is not yet subscribed: Redis must have the subscription again before the
        // invalidation below is published, or it would be lost for want of a listener.
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") >= 2 && subscribers(redis) == 2);
        double received = count("b", "headroom.cache.invalidations", "direction", "received");
        assertThat(b.get("k")).isEqualTo("v1");
        database.set("v2");
        a.invalidate("k");
        waiting().until(() -> "v2".equals(b.get("k")));
        assertThat(count("b", "headroom.cache.invalidations", "direction", "received"))
                .isEqualTo(received + 1);
    }
}
