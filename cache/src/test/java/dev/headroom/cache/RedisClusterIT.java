package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TcpProxy;
import dev.headroom.testing.TestRedisCluster;
import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
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
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The coalescing, fencing and invalidation guarantees against a real 3-master Redis Cluster. */
@ExtendWith(HeadroomServices.class)
class RedisClusterIT {

    /**
     * The longest any wait here may take. Generous on purpose: pub/sub delivery and loads on a busy
     * shared machine can be slow, and these tests prove what arrives and who loads, not how fast.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    /**
     * The load lease and the bound on each L2 call: long enough that a loaded machine's slowness is
     * never taken for a lease holder that died or an L2 that failed, which would each add a load.
     */
    private static final Duration LEASE = Duration.ofMinutes(2);

    private static final Duration L2_TIMEOUT = Duration.ofSeconds(10);

    private static final Duration POLL = Duration.ofMillis(10);

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final ExecutorService callers = Executors.newFixedThreadPool(64);
    private final AtomicReference<String> database = new AtomicReference<>("v1");

    @AfterEach
    void closeAll() throws Exception {
        callers.shutdownNow();
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private TieredCache<String, String> instance(TestRedisCluster cluster, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .clusterUri(cluster.uri())
                .keyPrefix(cluster.keyPrefix())
                .build();
        RedisInvalidationBus bus = RedisInvalidationBus.create(cluster.uri(), cluster.keyPrefix() + "invalidations");
        TieredCache<String, String> cache = TieredCache.<String, String>builder("cluster-" + closeables.size())
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .l2Timeout(L2_TIMEOUT)
                .l2LoadLease(LEASE)
                .l2LeasePollInterval(Duration.ofMillis(10))
                .loader(loader)
                .build();
        closeables.add(cache);
        // The bus waits 2 s for its subscription, then goes on in the background: no test may
        // publish before Redis has it.
        await().atMost(TIMEOUT).pollInterval(POLL).until(bus::isSubscribed);
        return cache;
    }

    @Test
    void theBusMovesToTheNextSeedWhenItsNodeIsGone(TestRedisCluster cluster) {
        List<String> nodes = new ArrayList<>();
        RedisClusterClient client = cluster.newClient();
        try {
            for (RedisClusterNode node : client.getPartitions()) {
                nodes.add("redis://" + node.getUri().getHost() + ":"
                        + node.getUri().getPort());
            }
        } finally {
            client.shutdown();
        }
        assertThat(nodes).hasSizeGreaterThanOrEqualTo(3);
        RedisURI first = RedisURI.create(nodes.get(0));
        TcpProxy proxy = TcpProxy.start(first.getHost(), first.getPort());
        closeables.add(proxy);
        String channel = cluster.keyPrefix() + "failover";
        RedisInvalidationBus bus =
                RedisInvalidationBus.create(List.of("redis://127.0.0.1:" + proxy.port(), nodes.get(1)), channel);
        closeables.add(bus);
        RedisInvalidationBus publisher = RedisInvalidationBus.create(nodes.get(2), channel);
        closeables.add(publisher);
        ConcurrentLinkedQueue<String> received = new ConcurrentLinkedQueue<>();
        AtomicInteger losses = new AtomicInteger();
        bus.subscribe(new InvalidationBus.Listener() {
            @Override
            public void invalidated(String key, long version) {
                received.add(key);
            }

            @Override
            public void messagesMayHaveBeenLost() {
                losses.incrementAndGet();
            }
        });
        await().atMost(TIMEOUT).pollInterval(POLL).until(bus::isDelivering);
        publisher.publish("before", 1);
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> received.contains("before"));

        proxy.cut(); // the first seed's node is gone for this bus
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> !bus.isDelivering());
        await().atMost(TIMEOUT).pollInterval(POLL).until(bus::isDelivering); // on the second seed
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> losses.get() == 2); // at the loss, at the resubscription
        publisher.publish("after", 2);
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> received.contains("after"));
    }

    @Test
    void sixtyFourGetsSpreadOverFourInstancesLoadEachColdKeyOnce(TestRedisCluster cluster) throws Exception {
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> instances = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            instances.add(instance(cluster, k -> {
                loads.incrementAndGet();
                Thread.sleep(50); // the protected query
                return "value-" + k;
            }));
        }
        int keys = 12; // spread over the three masters' slots
        for (int round = 0; round < keys; round++) {
            String key = "cold-" + round;
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                TieredCache<String, String> cache = instances.get(i % 4);
                results.add(callers.submit(() -> {
                    start.await();
                    return cache.get(key);
                }));
            }
            start.countDown();
            for (Future<String> f : results) {
                assertThat(f.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("value-" + key);
            }
            assertThat(loads).as("loads after key " + key).hasValue(round + 1);
        }
    }

    @Test
    void invalidationsCrossInstancesAndFenceASlowLoad(TestRedisCluster cluster) throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger bLoads = new AtomicInteger();
        TieredCache<String, String> a = instance(cluster, k -> database.get());
        TieredCache<String, String> b = instance(cluster, k -> {
            if (bLoads.incrementAndGet() == 3) { // the third load of "k" is slow and reads old data
                String read = database.get();
                loading.countDown();
                release.await();
                return read;
            }
            return database.get();
        });
        assertThat(b.get("k")).isEqualTo("v1");
        database.set("v2");
        a.invalidate("k");
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> "v2".equals(b.get("k")));

        b.invalidate("k");
        Future<String> slow = callers.submit(() -> b.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        database.set("v3");
        a.invalidate("k");
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v2");
        await().atMost(TIMEOUT).pollInterval(POLL).until(() -> "v3".equals(b.get("k")));
        assertThat(a.get("k")).isEqualTo("v3");
    }

    @Test
    void invalidateAllRetiresThisCachesValuesOnEveryMaster(TestRedisCluster cluster) {
        TieredCache<String, String> cache = instance(cluster, k -> "v");
        for (int i = 0; i < 100; i++) {
            cache.put("k" + i, "put");
        }
        RedisClusterClient client = cluster.newClient();
        try (StatefulRedisClusterConnection<String, String> c = client.connect()) {
            assertThat(c.sync().keys(cluster.keyPrefix() + "*{*")).hasSize(100); // spread over the masters
        } finally {
            client.shutdown();
        }
        cache.invalidateAll();
        AtomicInteger loads = new AtomicInteger();
        TieredCache<String, String> later = instance(cluster, k -> {
            loads.incrementAndGet();
            return "loaded";
        });
        for (int i = 0; i < 100; i++) {
            assertThat(later.get("k" + i)).isEqualTo("loaded");
        }
        assertThat(loads).as("no value from before the clear was served").hasValue(100);
    }
}
