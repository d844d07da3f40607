package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
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
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Adversarial probes of the cache's newest promises (refresh coordination, failed invalidations, bus liveness). */
@ExtendWith(HeadroomServices.class)
class AdversaryIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Duration L2_TIMEOUT = Duration.ofSeconds(10);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final AtomicReference<String> database = new AtomicReference<>("v1");
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void closeAll() throws Exception {
        pool.shutdownNow();
        for (int i = closeables.size() - 1; i >= 0; i--) {
            try {
                closeables.get(i).close();
            } catch (Exception e) {
                // best effort
            }
        }
    }

    private static ConditionFactory waiting() {
        return await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(10));
    }

    private double count(String cache, String meter, String tag, String value) {
        var c = registry.find(meter).tag("cache", cache).tag(tag, value).functionCounter();
        return c == null ? 0 : c.count();
    }

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
        waiting().until(bus::isDelivering);
        return cache;
    }

    private static <T> T raw(String uri, Function<RedisCommands<String, String>, T> command) {
        RedisClient client = RedisClient.create(uri);
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            return command.apply(c.sync());
        } finally {
            client.shutdown();
        }
    }

    // ---- failed invalidations ------------------------------------------------------------------

    /**
     * README: "invalidate, put and invalidateAll return whether Redis took them. If Redis does not
     * ... meanwhile no instance serves that key's (possibly old) Redis value — this one, and the
     * others the bus told". A failed invalidateAll only announces a flush: the others flush their
     * L1 and read the old values straight back from Redis.
     */
    @Test
    void afterAFailedInvalidateAllNoOtherInstanceReServesTheOldRedisValues(TestRedis redis) {
        TcpProxy proxy =
                TcpProxy.start(redis.endpoint().host(), redis.endpoint().port());
        closeables.add(proxy);
        TieredCache<String, String> a =
                instance(redis, "redis://127.0.0.1:" + proxy.port(), redis.uri(), "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, redis.uri(), redis.uri(), "b", k -> database.get());
        assertThat(a.get("k")).isEqualTo("v1");
        assertThat(b.get("k")).isEqualTo("v1");

        database.set("v2");
        proxy.cut();
        double flushes = count("b", "headroom.cache.l1.flushes", "reason", "all");
        assertThat(a.invalidateAll()).as("Redis did not take the clear").isFalse();
        waiting().until(() -> count("b", "headroom.cache.l1.flushes", "reason", "all") > flushes);
        assertThat(a.get("k")).as("a bypasses L2 while its clear is pending").isEqualTo("v2");
        assertThat(b.get("k"))
                .as("b was told of the clear Redis did not take: it must not re-serve Redis's old value")
                .isEqualTo("v2");
    }

    /**
     * README: instances told "any version" stop serving the key's L2 value "until the repair
     * reaches them"; and "a late or replayed message is ignored rather than evicting (or
     * installing) anything". A late invalidation carrying an OLD version (published by another
     * instance before, delivered after the "any version" message) lifts the suspect mark, and the
     * old Redis value is served again while the repair is still pending.
     */
    @Test
    void aLateOlderInvalidationDoesNotLiftTheSuspectMarkBeforeTheRepair(TestRedis redis) {
        TcpProxy proxy =
                TcpProxy.start(redis.endpoint().host(), redis.endpoint().port());
        closeables.add(proxy);
        TieredCache<String, String> a =
                instance(redis, "redis://127.0.0.1:" + proxy.port(), redis.uri(), "a", k -> database.get());
        TieredCache<String, String> b = instance(redis, redis.uri(), redis.uri(), "b", k -> database.get());
        assertThat(a.get("k")).isEqualTo("v1");
        assertThat(b.get("k")).isEqualTo("v1");

        database.set("v2");
        proxy.cut();
        assertThat(a.invalidate("k")).isFalse();
        waiting().until(() -> count("b", "headroom.cache.invalidations", "direction", "received") >= 1);
        // (b does not read k now: a read while suspect would load v2 and write it back over v1)
        // A late message from a third publisher, with an old version (say 1): it must be ignored.
        raw(redis.uri(), c -> c.publish(redis.key("invalidations"), "0123456789abcdef 1 1 k"));
        waiting().until(() -> count("b", "headroom.cache.invalidations", "direction", "received") >= 2);
        assertThat(b.get("k"))
                .as("the repair has not landed (a is still cut off): b must not serve Redis's old value")
                .isEqualTo("v2");
    }

    // ---- refresh coordination -----------------------------------------------------------------

    /**
     * A background refresh whose loader finds the key gone (null, negativeTtl 0) removes it from
     * L1 but leaves the old value in Redis: the very next read serves the deleted value again from
     * L2, and every instance calls the loader for the same refresh.
     */
    @Test
    void aRefreshThatFindsTheKeyGoneRetiresItInRedisWithOneLoad(TestRedis redis) throws Exception {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> instances = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            RedisRemoteStore store = RedisRemoteStore.builder()
                    .uri(redis.uri())
                    .keyPrefix(redis.keyPrefix())
                    .build();
            TieredCache<String, String> c = TieredCache.<String, String>builder("swr-" + i)
                    .remote(store, Codec.utf8())
                    .l2Timeout(L2_TIMEOUT)
                    .l2LoadLease(Duration.ofMinutes(2))
                    .l2LeasePollInterval(Duration.ofMillis(10))
                    .ticker(ticker)
                    .ttl(Duration.ofSeconds(10))
                    .ttlJitter(0)
                    .earlyRefreshBeta(0)
                    .staleWhileRevalidate(Duration.ofMinutes(10))
                    .meterRegistry(registry)
                    .loader(k -> {
                        loads.incrementAndGet();
                        return database.get();
                    })
                    .build();
            closeables.add(c);
            instances.add(c);
        }
        for (TieredCache<String, String> c : instances) {
            assertThat(c.get("k")).isEqualTo("v1");
        }
        assertThat(loads).hasValue(1);
        database.set(null); // deleted in the source
        ticker.advance(Duration.ofSeconds(11)); // stale within the window
        loads.set(0);
        for (TieredCache<String, String> c : instances) {
            assertThat(c.get("k")).as("stale at once").isEqualTo("v1");
        }
        waiting()
                .until(() -> registry.find("headroom.cache.refreshes").functionCounters().stream()
                                .mapToDouble(f -> f.count())
                                .sum()
                        >= 3);
        int refreshLoads = loads.get();
        List<String> after = new ArrayList<>();
        for (TieredCache<String, String> c : instances) {
            after.add(c.get("k"));
        }
        System.out.println("ADV refresh-null: loads for one refresh=" + refreshLoads + ", reads after=" + after
                + ", loads after reads=" + loads.get());
        org.assertj.core.api.SoftAssertions soft = new org.assertj.core.api.SoftAssertions();
        soft.assertThat(refreshLoads)
                .as("loader calls across 3 instances for one refresh")
                .isEqualTo(1);
        soft.assertThat(after).as("reads after the refresh found the key gone").containsOnlyNulls();
        soft.assertAll();
    }

    /** A refresh-lease holder that died: the others must load once between them after its lease ends. */
    @Test
    void aDeadRefreshLeaseHolderIsReplacedByOneLoader(TestRedis redis) throws Exception {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> instances = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            instances.add(swrInstance(redis, ticker, "dead-" + i, k -> {
                int n = loads.incrementAndGet();
                return "v" + n;
            }));
        }
        for (TieredCache<String, String> c : instances) {
            assertThat(c.get("k")).isEqualTo("v1");
        }
        ticker.advance(Duration.ofSeconds(11));
        loads.set(1);
        // a holder that took the refresh lease and died: Redis frees it after 1.5 s
        String leaseKey = redis.keyPrefix() + "{k}:lease";
        raw(redis.uri(), c -> c.set(leaseKey, "dead", io.lettuce.core.SetArgs.Builder.px(1500)));
        List<java.util.concurrent.Future<String>> reads = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            TieredCache<String, String> c = instances.get(i % 4);
            reads.add(pool.submit(() -> c.get("k")));
        }
        for (var f : reads) {
            assertThat(f.get(30, java.util.concurrent.TimeUnit.SECONDS)).startsWith("v");
        }
        for (TieredCache<String, String> c : instances) {
            waiting().untilAsserted(() -> assertThat(c.getIfPresent("k")).isEqualTo("v2"));
        }
        assertThat(loads.get() - 1)
                .as("loads for the refresh after the dead holder's lease")
                .isEqualTo(1);
    }

    /** The refresh-lease holder's loader throws: exactly one other instance should load. */
    @Test
    void aRefreshLeaseHolderWhoseLoaderThrowsIsReplacedByOneLoader(TestRedis redis) throws Exception {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger loads = new AtomicInteger();
        java.util.concurrent.CountDownLatch holderIn = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch holderFail = new java.util.concurrent.CountDownLatch(1);
        AtomicInteger holderCalls = new AtomicInteger();
        TieredCache<String, String> holder = swrInstance(redis, ticker, "thr-0", k -> {
            if (holderCalls.incrementAndGet() == 1) {
                return "v1";
            }
            holderIn.countDown();
            holderFail.await();
            throw new IllegalStateException("db down");
        });
        List<TieredCache<String, String>> others = new ArrayList<>();
        for (int i = 1; i < 4; i++) {
            others.add(swrInstance(redis, ticker, "thr-" + i, k -> "v" + (1 + loads.incrementAndGet())));
        }
        assertThat(holder.get("k")).isEqualTo("v1");
        for (TieredCache<String, String> c : others) {
            assertThat(c.get("k")).isEqualTo("v1");
        }
        ticker.advance(Duration.ofSeconds(11));
        assertThat(holder.get("k")).isEqualTo("v1"); // stale; refresh takes the lease
        assertThat(holderIn.await(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        for (TieredCache<String, String> c : others) {
            assertThat(c.get("k")).isEqualTo("v1"); // stale; their refreshes wait on the lease
        }
        waiting()
                .until(() ->
                        registry
                                        .find("headroom.cache.coalesced.waits")
                                        .tag("scope", "cluster")
                                        .functionCounters()
                                        .stream()
                                        .mapToDouble(f -> f.count())
                                        .sum()
                                >= 3);
        holderFail.countDown();
        for (TieredCache<String, String> c : others) {
            waiting().untilAsserted(() -> assertThat(c.getIfPresent("k")).isEqualTo("v2"));
        }
        assertThat(loads).as("loads among the others after the holder failed").hasValue(1);
    }

    private TieredCache<String, String> swrInstance(
            TestRedis redis, FakeTicker ticker, String name, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        TieredCache<String, String> c = TieredCache.<String, String>builder(name)
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT)
                .l2LoadLease(Duration.ofMinutes(2))
                .l2LeasePollInterval(Duration.ofMillis(10))
                .ticker(ticker)
                .ttl(Duration.ofSeconds(10))
                .ttlJitter(0)
                .earlyRefreshBeta(0)
                .staleWhileRevalidate(Duration.ofMinutes(10))
                .loadTimeout(TIMEOUT)
                .meterRegistry(registry)
                .loader(loader)
                .build();
        closeables.add(c);
        return c;
    }

    // ---- builder ----------------------------------------------------------------------------------

    /**
     * A build the bus refuses (its listener is taken) has already registered the cache's meters and
     * scheduled its sweep and repair tasks: the name is then unusable on the registry.
     */
    @Test
    void aBuildThatFailsLeavesNoMetersBehind(TestRedis redis) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        RedisInvalidationBus bus = RedisInvalidationBus.create(redis.uri(), redis.key("invalidations"));
        closeables.add(bus);
        closeables.add(store);
        TieredCacheBuilder<String, String> builder = TieredCache.<String, String>builder("twice")
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .meterRegistry(registry)
                .loader(k -> "x");
        TieredCache<String, String> first = builder.build();
        first.close();
        assertThatThrownBy(builder::build).isInstanceOf(IllegalStateException.class);
        RedisRemoteStore store2 = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        // a fresh, valid cache of the same name on the same registry
        TieredCache<String, String> again = TieredCache.<String, String>builder("twice")
                .remote(store2, Codec.utf8())
                .meterRegistry(registry)
                .loader(k -> "x")
                .build();
        closeables.add(again);
        assertThat(again.get("k")).isEqualTo("x");
    }

    // ---- bus liveness and resources ---------------------------------------------------------------

    private static int clients(String uri) {
        String list = raw(uri, c -> c.clientList());
        return list.split("\n").length - 1; // minus our own
    }

    @Test
    void repeatedlyKilledSubscriptionsThenCloseLeaveNoConnections() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            TieredCache<String, String> a = ownInstance(own, "kill-a");
            TieredCache<String, String> b = ownInstance(own, "kill-b");
            assertThat(a.get("k")).isEqualTo("v1");
            for (int i = 0; i < 15; i++) {
                raw(own.uri(), c -> c.clientKill(KillArgs.Builder.typePubsub()));
                Thread.sleep(50 + 20 * i);
            }
            waiting().until(() -> raw(own.uri(), c -> c.pubsubNumsub("own:inv")).get("own:inv") == 2);
            database.set("v2");
            assertThat(b.get("k")).isEqualTo("v1");
            a.invalidate("k");
            waiting().until(() -> "v2".equals(b.get("k")));
            int before = clients(own.uri());
            a.close();
            b.close();
            Thread.sleep(3000);
            assertThat(before).as("2 stores + 2x2 bus connections").isEqualTo(6);
            assertThat(clients(own.uri())).as("connections left after close").isZero();
        }
    }

    @Test
    void closeWhileReconnectingLeavesNoConnections() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            TieredCache<String, String> a = ownInstance(own, "rc-a");
            assertThat(a.get("k")).isEqualTo("v1");
            own.kill();
            Thread.sleep(1500);
            a.close();
            own.restart();
            Thread.sleep(4000);
            assertThat(clients(own.uri()))
                    .as("connections left after close during reconnect")
                    .isZero();
        }
    }

    @Test
    void busCreatedWhileRedisDownThenClosedLeavesNoConnections() throws Exception {
        try (RedisProcess own = RedisProcess.start()) {
            own.kill();
            List<RedisInvalidationBus> buses = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                RedisInvalidationBus bus = RedisInvalidationBus.create(own.uri(), "own:inv");
                bus.subscribe(new InvalidationBus.Listener() {
                    @Override
                    public void invalidated(String key, long version) {}

                    @Override
                    public void messagesMayHaveBeenLost() {}
                });
                buses.add(bus);
            }
            own.restart();
            Thread.sleep(500); // in the middle of reconnect attempts
            for (RedisInvalidationBus bus : buses) {
                bus.close();
            }
            Thread.sleep(4000);
            assertThat(clients(own.uri())).as("connections left after close").isZero();
        }
    }

    /** A first seed that accepts TCP but never answers: the bus must still move on and deliver. */
    @Test
    void aFirstSeedThatNeverAnswersIsLeftForTheNext() throws Exception {
        try (RedisProcess own = RedisProcess.start();
                ServerSocket blackhole = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            List<Socket> accepted = new CopyOnWriteArrayList<>();
            Thread t = new Thread(() -> {
                while (!blackhole.isClosed()) {
                    try {
                        accepted.add(blackhole.accept());
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
            long t0 = System.nanoTime();
            RedisInvalidationBus bus = RedisInvalidationBus.create(
                    List.of("redis://127.0.0.1:" + blackhole.getLocalPort(), own.uri()), "own:inv");
            closeables.add(bus);
            AtomicInteger got = new AtomicInteger();
            bus.subscribe(new InvalidationBus.Listener() {
                @Override
                public void invalidated(String key, long version) {
                    got.incrementAndGet();
                }

                @Override
                public void messagesMayHaveBeenLost() {}
            });
            waiting().until(bus::isDelivering);
            System.out.println("ADV: delivering after ms " + (System.nanoTime() - t0) / 1_000_000);
            raw(own.uri(), c -> c.publish("own:inv", "0123456789abcdef 1 5 k"));
            waiting().until(() -> got.get() == 1);
            // the bus's own publisher must reach the live seed too: a second bus hears it
            RedisInvalidationBus listener = RedisInvalidationBus.create(own.uri(), "own:inv");
            closeables.add(listener);
            AtomicInteger heard = new AtomicInteger();
            listener.subscribe(new InvalidationBus.Listener() {
                @Override
                public void invalidated(String key, long version) {
                    heard.incrementAndGet();
                }

                @Override
                public void messagesMayHaveBeenLost() {}
            });
            waiting().until(listener::isDelivering);
            waiting().untilAsserted(() -> {
                bus.publish("k2", 7);
                assertThat(heard.get()).isPositive();
            });
            for (Socket s : accepted) {
                s.close();
            }
        }
    }

    private TieredCache<String, String> ownInstance(RedisProcess own, String name) {
        RedisRemoteStore store =
                RedisRemoteStore.builder().uri(own.uri()).keyPrefix("own:").build();
        RedisInvalidationBus bus = RedisInvalidationBus.create(own.uri(), "own:inv");
        TieredCache<String, String> cache = TieredCache.<String, String>builder(name)
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .l2Timeout(L2_TIMEOUT)
                .meterRegistry(registry)
                .loader(k -> database.get())
                .build();
        closeables.add(cache);
        waiting().until(bus::isDelivering);
        return cache;
    }

    // ---- a silently stalled bus, a slow (late) write, and a storm ----------------------------------

    /** A loopback proxy that can go silent without closing: DROP discards bytes, HOLD delays them. */
    static final class FreezeProxy implements AutoCloseable {
        enum Mode {
            PASS,
            DROP,
            HOLD
        }

        final ServerSocket server;
        volatile Mode mode = Mode.PASS;
        final List<Socket> open = new CopyOnWriteArrayList<>();
        final int target;

        FreezeProxy(int target) throws IOException {
            this.target = target;
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread t = new Thread(() -> {
                while (!server.isClosed()) {
                    try {
                        Socket c = server.accept();
                        Socket u = new Socket("127.0.0.1", target);
                        open.add(c);
                        open.add(u);
                        pump(c, u);
                        pump(u, c);
                    } catch (IOException e) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return server.getLocalPort();
        }

        private void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[16 * 1024];
                try {
                    var in = from.getInputStream();
                    var out = to.getOutputStream();
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        while (mode == Mode.HOLD) {
                            Thread.sleep(5);
                        }
                        if (mode == Mode.DROP) {
                            continue;
                        }
                        out.write(buf, 0, n);
                        out.flush();
                    }
                } catch (IOException | InterruptedException e) {
                    // closed
                } finally {
                    try {
                        from.close();
                        to.close();
                    } catch (IOException e) {
                        // closing
                    }
                }
            });
            t.setDaemon(true);
            t.start();
        }

        @Override
        public void close() throws IOException {
            server.close();
            for (Socket s : open) {
                s.close();
            }
        }
    }

    /**
     * README: "a value replaced elsewhere while it could not hear is served at most that long"
     * (cap 1 s, plus up to ~2 s detection). b's bus goes silent (bytes dropped, TCP open); a
     * replaces the value; how long does b keep serving the old one?
     */
    @Test
    void aSilentlyStalledBusServesAReplacedValueOnlyBriefly(TestRedis redis) throws Exception {
        FreezeProxy proxy = new FreezeProxy(redis.endpoint().port());
        closeables.add(proxy);
        TieredCache<String, String> a = instance(redis, redis.uri(), redis.uri(), "a", k -> database.get());
        TieredCache<String, String> b =
                instance(redis, redis.uri(), "redis://127.0.0.1:" + proxy.port(), "b", k -> database.get());
        assertThat(b.get("k")).isEqualTo("v1");
        proxy.mode = FreezeProxy.Mode.DROP;
        database.set("v2");
        assertThat(a.put("k", "v2")).isTrue();
        long t0 = System.nanoTime();
        waiting().until(() -> "v2".equals(b.get("k")));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("ADV stalled bus: old value served for ms " + ms);
        assertThat(ms).as("ms the deaf instance served the replaced value").isLessThan(6_000);
    }

    /**
     * A put whose Redis write is slow (lands after l2Timeout): a publishes "any version", c marks
     * the key suspect; b then puts a newer value, whose message lifts c's mark; a's late write then
     * lands over b's in Redis, and c serves a's older value from L2 until a's repair lands.
     */
    @Test
    void aSlowPutLandingAfterANewerPutIsNotServedByAnInstanceToldOfIt(TestRedis redis) throws Exception {
        FreezeProxy proxy = new FreezeProxy(redis.endpoint().port());
        closeables.add(proxy);
        RedisRemoteStore storeA = RedisRemoteStore.builder()
                .uri("redis://127.0.0.1:" + proxy.port())
                .keyPrefix(redis.keyPrefix())
                .build();
        RedisInvalidationBus busA = RedisInvalidationBus.create(redis.uri(), redis.key("invalidations"));
        TieredCache<String, String> a = TieredCache.<String, String>builder("a")
                .remote(storeA, Codec.utf8())
                .invalidationBus(busA)
                .keyDecoder(Function.identity())
                .l2Timeout(Duration.ofMillis(200))
                .meterRegistry(registry)
                .loader(k -> database.get())
                .build();
        closeables.add(a);
        waiting().until(busA::isDelivering);
        TieredCache<String, String> b = instance(redis, redis.uri(), redis.uri(), "b", k -> database.get());
        TieredCache<String, String> c = instance(redis, redis.uri(), redis.uri(), "c", k -> database.get());
        assertThat(c.get("k")).isEqualTo("v1");

        proxy.mode = FreezeProxy.Mode.HOLD; // a's store: slow, not failed
        database.set("v2");
        assertThat(a.put("k", "v2")).as("timed out").isFalse();
        waiting().until(() -> count("c", "headroom.cache.invalidations", "direction", "received") >= 1);
        database.set("v3");
        assertThat(b.put("k", "v3")).isTrue();
        waiting().until(() -> count("c", "headroom.cache.invalidations", "direction", "received") >= 2);
        proxy.mode = FreezeProxy.Mode.PASS; // a's put lands now, after b's
        String redisKey = redis.keyPrefix() + "{k}";
        List<String> seen = new ArrayList<>();
        long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        long fakeSeq = 1;
        while (System.nanoTime() < end) {
            String v = c.get("k");
            String inRedis = raw(redis.uri(), r -> r.get(redisKey));
            String row = v + " (redis " + inRedis + ")";
            if (seen.isEmpty() || !seen.get(seen.size() - 1).equals(row)) {
                seen.add(row);
            }
            Thread.sleep(20);
            // drop c's L1 copy (a version above any real one, not "any version") so it reads L2 again
            String drop = "feedfacefeedface " + fakeSeq++ + " " + (Long.MAX_VALUE - 1) + " k";
            raw(redis.uri(), r -> r.publish(redis.key("invalidations"), drop));
        }
        System.out.println("ADV slow put: c served " + seen);
        waiting()
                .until(() -> registry.find("headroom.cache.l2.repairs.pending")
                                .tag("cache", "a")
                                .gauge()
                                .value()
                        == 0);
        assertThat(seen).as("values c served after b's newer put").noneMatch(v -> v.startsWith("v2 "));
    }

    /**
     * Writers (serialized per key, as an application writing its database would be) put and
     * invalidate on two instances while readers hit both and the shared clock forces stale reads and
     * refreshes. Once quiet and the bus has delivered, every instance must serve what the database
     * holds (or nothing), and Redis must hold it (or no value).
     */
    @Test
    void aStormOfPutsInvalidationsAndRefreshesEndsCoherent(TestRedis redis) throws Exception {
        FakeTicker ticker = new FakeTicker();
        java.util.concurrent.ConcurrentHashMap<String, String> db = new java.util.concurrent.ConcurrentHashMap<>();
        int keys = 16;
        for (int i = 0; i < keys; i++) {
            db.put("k" + i, "init-" + i);
        }
        List<TieredCache<String, String>> inst = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            RedisRemoteStore store = RedisRemoteStore.builder()
                    .uri(redis.uri())
                    .keyPrefix(redis.keyPrefix())
                    .build();
            RedisInvalidationBus bus = RedisInvalidationBus.create(redis.uri(), redis.key("invalidations"));
            TieredCache<String, String> c = TieredCache.<String, String>builder("storm-" + i)
                    .remote(store, Codec.utf8())
                    .invalidationBus(bus)
                    .keyDecoder(Function.identity())
                    .l2Timeout(L2_TIMEOUT)
                    .l2LoadLease(Duration.ofSeconds(30))
                    .l2LeasePollInterval(Duration.ofMillis(2))
                    .ticker(ticker)
                    .ttl(Duration.ofSeconds(10))
                    .staleWhileRevalidate(Duration.ofMinutes(10))
                    .earlyRefreshBeta(0)
                    .meterRegistry(registry)
                    .loader(k -> {
                        String v = db.get(k);
                        Thread.sleep(
                                java.util.concurrent.ThreadLocalRandom.current().nextInt(3));
                        return v;
                    })
                    .build();
            closeables.add(c);
            waiting().until(bus::isDelivering);
            inst.add(c);
        }
        Object[] locks = new Object[keys];
        for (int i = 0; i < keys; i++) {
            locks[i] = new Object();
        }
        AtomicInteger seq = new AtomicInteger();
        List<java.util.concurrent.Future<?>> work = new ArrayList<>();
        long until = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        for (int t = 0; t < 6; t++) {
            int thread = t;
            work.add(pool.submit(() -> {
                var rnd = java.util.concurrent.ThreadLocalRandom.current();
                while (System.nanoTime() < until) {
                    int ki = rnd.nextInt(keys);
                    String k = "k" + ki;
                    TieredCache<String, String> c = inst.get(rnd.nextInt(2));
                    int op = rnd.nextInt(10);
                    if (thread < 2 && op < 4) {
                        synchronized (locks[ki]) {
                            String v = "w" + seq.incrementAndGet();
                            db.put(k, v);
                            if (op < 2) {
                                c.put(k, v);
                            } else {
                                c.invalidate(k);
                            }
                        }
                    } else if (op == 9) {
                        ticker.advance(Duration.ofSeconds(rnd.nextInt(4)));
                        c.refresh(k);
                    } else {
                        c.get(k);
                    }
                }
                return null;
            }));
        }
        for (var f : work) {
            f.get(2, java.util.concurrent.TimeUnit.MINUTES);
        }
        Thread.sleep(3000); // refreshes and messages in flight land
        List<String> problems = new ArrayList<>();
        for (int i = 0; i < keys; i++) {
            String k = "k" + i;
            String want = db.get(k);
            String inRedis = raw(redis.uri(), r -> r.get(redis.keyPrefix() + "{" + k + "}"));
            if (inRedis != null && inRedis.contains("|v") && !inRedis.endsWith("|v" + want)) {
                problems.add(k + ": redis " + inRedis + " want " + want);
            }
            for (TieredCache<String, String> c : inst) {
                String got = c.getIfPresent(k);
                if (got != null && !got.equals(want)) {
                    problems.add(k + ": " + c.name() + " L1 " + got + " want " + want + " redis " + inRedis);
                }
            }
        }
        System.out.println("ADV storm: writes=" + seq.get() + " problems=" + problems);
        assertThat(problems).isEmpty();
    }

    /**
     * Real time, default jitter, XFetch on: 4 instances hammer one hot key for 8 s with a 1 s TTL.
     * "one loader call per key per refresh across 4 instances": about one load per TTL.
     */
    @Test
    void aHotKeyOnFourInstancesInRealTimeLoadsAboutOncePerTtl(TestRedis redis) throws Exception {
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> inst = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            RedisRemoteStore store = RedisRemoteStore.builder()
                    .uri(redis.uri())
                    .keyPrefix(redis.keyPrefix())
                    .build();
            TieredCache<String, String> c = TieredCache.<String, String>builder("hot-" + i)
                    .remote(store, Codec.utf8())
                    .l2Timeout(L2_TIMEOUT)
                    .ttl(Duration.ofSeconds(1))
                    .staleWhileRevalidate(Duration.ofSeconds(5))
                    .meterRegistry(registry)
                    .loader(k -> {
                        loads.incrementAndGet();
                        Thread.sleep(50);
                        return "v" + System.nanoTime();
                    })
                    .build();
            closeables.add(c);
            inst.add(c);
        }
        long until = System.nanoTime() + Duration.ofSeconds(8).toNanos();
        List<java.util.concurrent.Future<?>> work = new ArrayList<>();
        AtomicInteger reads = new AtomicInteger();
        for (int t = 0; t < 8; t++) {
            TieredCache<String, String> c = inst.get(t % 4);
            work.add(pool.submit(() -> {
                while (System.nanoTime() < until) {
                    c.get("hot");
                    reads.incrementAndGet();
                    Thread.sleep(1);
                }
                return null;
            }));
        }
        for (var f : work) {
            f.get(1, java.util.concurrent.TimeUnit.MINUTES);
        }
        System.out.println("ADV hot key: loads=" + loads.get() + " reads=" + reads.get());
        assertThat(loads.get()).as("loads over 8 s of a 1 s TTL on 4 instances").isLessThanOrEqualTo(14);
    }
}
