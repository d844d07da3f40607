package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.testing.FakeTicker;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Several cache instances, each with its own Lettuce connection to the same real Redis. */
@ExtendWith(HeadroomServices.class)
class ClusterCoalescingIT {

    /**
     * The longest any wait here may take. Generous on purpose: on a busy shared machine a load or a
     * Redis round trip can be slow, and these tests prove who loads and why, not how fast.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    /**
     * Every instance's load lease: longer than any wait here, so that a lease ends only the way a
     * test means it to (released by a failing holder, expired by Redis) and never because a loaded
     * machine was slow. A waiter that gave up on a lease counts {@code lease.outcomes{waited_out}}.
     */
    private static final Duration LEASE = Duration.ofMinutes(2);

    /** Bound on each L2 call: a slow answer on a loaded machine must not read as a failing L2. */
    private static final Duration L2_TIMEOUT = Duration.ofSeconds(10);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final ExecutorService callers = Executors.newFixedThreadPool(64);

    @AfterEach
    void closeAll() throws Exception {
        callers.shutdownNow();
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private TieredCache<String, String> instance(TestRedis redis, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        closeables.add(store);
        RemoteStoreContract.answering(store); // connected: not an instance that loads without L2
        return TieredCache.<String, String>builder("cluster-" + closeables.size())
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT)
                .l2LoadLease(LEASE)
                .l2LeasePollInterval(Duration.ofMillis(10))
                .meterRegistry(registry)
                .loader(loader)
                .build();
    }

    /** An instance whose clock the test moves: entries go stale when the test says so. */
    private TieredCache<String, String> instance(
            TestRedis redis, FakeTicker ticker, double earlyRefreshBeta, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        closeables.add(store);
        RemoteStoreContract.answering(store); // connected: not an instance that loads without L2
        return TieredCache.<String, String>builder("cluster-" + closeables.size())
                .remote(store, Codec.utf8())
                .l2Timeout(L2_TIMEOUT)
                .l2LoadLease(LEASE)
                .l2LeasePollInterval(Duration.ofMillis(10))
                .ticker(ticker)
                .ttl(Duration.ofSeconds(10))
                .ttlJitter(0)
                .staleWhileRevalidate(Duration.ofMinutes(10))
                .earlyRefreshBeta(earlyRefreshBeta)
                .random(
                        new RandomGenerator() { // -ln(0.5) = 0.69: early refresh within 0.69 x load cost
                            @Override
                            public long nextLong() {
                                return 0;
                            }

                            @Override
                            public double nextDouble() {
                                return 0.5;
                            }
                        })
                .loadTimeout(TIMEOUT)
                .meterRegistry(registry)
                .loader(loader)
                .build();
    }

    private double l2Errors() {
        return registry.find("headroom.cache.l2.errors").functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    private double clusterWaits() {
        return coalescedWaits("cluster");
    }

    private double coalescedWaits(String scope) {
        return registry.find("headroom.cache.coalesced.waits").tag("scope", scope).functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    private double leaseOutcomes(String result) {
        return registry.find("headroom.cache.lease.outcomes").tag("result", result).functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    /** Runs one command on a connection of its own, past the caches. */
    private static <T> T raw(TestRedis redis, Function<RedisCommands<String, String>, T> command) {
        RedisClient client = redis.newClient();
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            return command.apply(c.sync());
        } finally {
            client.shutdown();
        }
    }

    private List<Future<String>> storm(List<TieredCache<String, String>> instances, String key, CountDownLatch start) {
        List<Future<String>> results = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            TieredCache<String, String> cache = instances.get(i % instances.size());
            results.add(callers.submit(() -> {
                start.await();
                return cache.get(key);
            }));
        }
        return results;
    }

    @Test
    void sixtyFourGetsOfOneColdKeySpreadOverFourInstancesLoadItOnce(TestRedis redis) throws Exception {
        for (int round = 0; round < 20; round++) {
            String key = "cold-" + round;
            AtomicInteger loads = new AtomicInteger();
            CountDownLatch start = new CountDownLatch(1);
            List<TieredCache<String, String>> instances = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                instances.add(instance(redis, k -> {
                    loads.incrementAndGet();
                    Thread.sleep(50); // the database query being protected
                    return "value-" + k;
                }));
            }
            List<Future<String>> results = storm(instances, key, start);
            start.countDown();
            for (Future<String> f : results) {
                assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("value-" + key);
            }
            assertThat(loads)
                    .as("loader calls across 4 instances, round " + round)
                    .hasValue(1);
        }
        assertThat(clusterWaits()).isPositive();
    }

    @Test
    void aStormOnAKeyTheSourceDoesNotHaveLoadsItOnceAcrossFourInstances(TestRedis redis) throws Exception {
        for (int round = 0; round < 10; round++) {
            String key = "missing-" + round;
            AtomicInteger loads = new AtomicInteger();
            CountDownLatch start = new CountDownLatch(1);
            double clusterWaitsBefore = clusterWaits();
            double processWaitsBefore = coalescedWaits("process");
            double l2ErrorsBefore = l2Errors();
            List<TieredCache<String, String>> instances = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                instances.add(instance(redis, k -> {
                    loads.incrementAndGet();
                    // The query that finds nothing ends only once the storm is one: each instance's
                    // other 15 gets joined its load, and the other three instances wait on the lease.
                    // A get that started after the load had ended (as one can behind a fixed 50 ms
                    // query on a loaded machine) is a later miss, which rightly loads again (the end
                    // of the round shows it): counting it would test the scheduler, not the lease.
                    await().atMost(TIMEOUT)
                            .until(() -> coalescedWaits("process") >= processWaitsBefore + 60
                                    && clusterWaits() >= clusterWaitsBefore + 3);
                    return null;
                }));
            }
            List<Future<String>> results = storm(instances, key, start);
            start.countDown();
            for (Future<String> f : results) {
                assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isNull();
            }
            // The promise holds while Redis answers: an L2 call that fails or times out (a loaded
            // 2-core machine can stall one past l2Timeout) makes its instance load without the lease,
            // by design. Such a round may load once more per failed call, and says so; none may
            // load more than once without one.
            double l2Errors = l2Errors() - l2ErrorsBefore;
            int expected = 1 + (int) l2Errors;
            assertThat(loads.get())
                    .as(
                            "loader calls across 4 instances for a key the source lacks, round %d (%s L2 errors)",
                            round, l2Errors)
                    .isBetween(1, expected);
            int afterStorm = loads.get();
            assertThat(instances.get(0).get(key))
                    .as("a later read is not an absence cached in Redis: it loads again")
                    .isNull();
            assertThat(loads).hasValue(afterStorm + 1);
        }
    }

    @Test
    void staleReadsOnFourInstancesRefreshEachKeyOnceAndAllServeTheNewValue(TestRedis redis) throws Exception {
        refreshStorms(redis, 0, Duration.ofSeconds(11)); // past the 10 s TTL: stale-while-revalidate
    }

    @Test
    void earlyRefreshesOnFourInstancesLoadEachKeyOnce(TestRedis redis) throws Exception {
        // XFetch: 0.5 s before expiry, inside the 0.69 s window of a load that cost 1 s
        refreshStorms(redis, 1.0, Duration.ofMillis(9_500));
    }

    /**
     * Per round: one key loaded once and read by all four instances; the clock moves to {@code
     * advance} (a refresh is due) and 64 concurrent reads spread over the instances. Every instance
     * must end serving the refreshed value, and the loader must have run once for the refresh.
     */
    private void refreshStorms(TestRedis redis, double earlyRefreshBeta, Duration advance) throws Exception {
        FakeTicker ticker = new FakeTicker();
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> instances = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            instances.add(instance(redis, ticker, earlyRefreshBeta, k -> {
                int n = loads.incrementAndGet();
                ticker.advance(Duration.ofSeconds(1)); // a load's cost, which XFetch weighs
                return k + "#" + n;
            }));
        }
        for (int round = 0; round < 10; round++) {
            String key = "hot-" + round;
            loads.set(0);
            for (TieredCache<String, String> cache : instances) {
                assertThat(cache.get(key)).isEqualTo(key + "#1");
            }
            ticker.advance(advance);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> results = storm(instances, key, start);
            start.countDown();
            for (Future<String> f : results) {
                assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).startsWith(key + "#");
            }
            String afterRound = "round " + round;
            for (TieredCache<String, String> cache : instances) {
                await().atMost(TIMEOUT)
                        .untilAsserted(() -> assertThat(cache.getIfPresent(key))
                                .as("%s after the refresh, %s", cache.name(), afterRound)
                                .isEqualTo(key + "#2"));
            }
            assertThat(loads)
                    .as("loader calls across 4 instances for one load and one refresh, round " + round)
                    .hasValue(2);
            ticker.advance(Duration.ofMinutes(30)); // the next round's key starts cold everywhere
        }
    }

    @Test
    void whenTheLeaseHoldersLoaderThrowsAnotherInstanceLoads(TestRedis redis) throws Exception {
        CountDownLatch holderLoading = new CountDownLatch(1);
        CountDownLatch holderMayFail = new CountDownLatch(1);
        AtomicInteger otherLoads = new AtomicInteger();
        TieredCache<String, String> holder = instance(redis, k -> {
            holderLoading.countDown();
            holderMayFail.await();
            throw new IllegalStateException("database timeout");
        });
        TieredCache<String, String> other = instance(redis, k -> {
            otherLoads.incrementAndGet();
            return "from-other";
        });
        Future<String> holderCall = callers.submit(() -> holder.get("k"));
        assertThat(holderLoading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue(); // holder has the lease
        ConcurrentLinkedQueue<Future<String>> waiting = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < 16; i++) {
            waiting.add(callers.submit(() -> other.get("k")));
        }
        await().atMost(TIMEOUT).until(() -> clusterWaits() >= 1);
        holderMayFail.countDown();
        for (Future<String> f : waiting) {
            assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("from-other");
        }
        // The failing holder released its lease, and the waiter took it at its next poll: it did
        // not wait out its own lease (which would also outlast the gets above).
        assertThat(leaseOutcomes("waited_out"))
                .as("the lease was released at once, not waited out")
                .isZero();
        assertThat(otherLoads).hasValue(1);
        assertThat(holderCall).failsWithin(TIMEOUT);
    }

    @Test
    void whenTheLeaseHolderDiesAnotherInstanceLoadsOnceTheLeaseExpires(TestRedis redis) throws Exception {
        // A holder that took the lease and died: nobody releases it; Redis expires it. Its TTL here
        // outlasts any setup on a loaded machine, and the test makes it run out further down.
        try (RedisRemoteStore dead = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build()) {
            assertThat(dead.tryLease("k", "dead-holder", LEASE)
                            .toCompletableFuture()
                            .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                    .isTrue();
        }
        String lease = redis.keyPrefix() + "{k}:lease";
        long ttlMillis = raw(redis, c -> c.pttl(lease));
        assertThat(ttlMillis).as("the lease expires by itself").isBetween(1L, LEASE.toMillis());
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> survivors = List.of(
                instance(redis, k -> "v" + loads.incrementAndGet()),
                instance(redis, k -> "v" + loads.incrementAndGet()));
        CountDownLatch start = new CountDownLatch(1);
        List<Future<String>> results = storm(survivors, "k", start);
        start.countDown();
        await().atMost(TIMEOUT).until(() -> clusterWaits() >= 2); // each survivor waits on the lease
        assertThat(loads).as("loads while the dead holder's lease stands").hasValue(0);
        assertThat(results).noneMatch(Future::isDone);

        // The lease's time is up: Redis expires it as at the end of any TTL.
        boolean expiring = raw(redis, c -> c.pexpire(lease, 1));
        assertThat(expiring).isTrue();
        for (Future<String> f : results) {
            assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v1");
        }
        assertThat(loads).as("one survivor loaded, once").hasValue(1);
        // Who loaded and why, instead of how long it took: a survivor took the expired lease (had
        // it waited out its own two-minute lease instead, that would count as waited_out, and the
        // gets above would have timed out first), and the other was filled from L2 by it.
        assertThat(leaseOutcomes("waited_out"))
                .as("survivors that waited out their own lease")
                .isZero();
        assertThat(leaseOutcomes("filled_by_holder"))
                .as("survivors filled by the one that took the lease")
                .isEqualTo(1);
    }
}
