package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Codec;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedis;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Several cache instances, each with its own Lettuce connection to the same real Redis. */
@ExtendWith(HeadroomServices.class)
class ClusterCoalescingIT {

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
        return TieredCache.<String, String>builder("cluster-" + closeables.size())
                .remote(store, Codec.utf8())
                .l2Timeout(Duration.ofSeconds(1))
                .l2LoadLease(Duration.ofSeconds(2))
                .l2LeasePollInterval(Duration.ofMillis(10))
                .meterRegistry(registry)
                .loader(loader)
                .build();
    }

    private double clusterWaits() {
        return registry.find("headroom.cache.coalesced.waits").tag("scope", "cluster").functionCounters().stream()
                .mapToDouble(c -> c.count())
                .sum();
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
                assertThat(f.get(10, TimeUnit.SECONDS)).isEqualTo("value-" + key);
            }
            assertThat(loads)
                    .as("loader calls across 4 instances, round " + round)
                    .hasValue(1);
        }
        assertThat(clusterWaits()).isPositive();
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
        assertThat(holderLoading.await(5, TimeUnit.SECONDS)).isTrue(); // holder has the lease
        ConcurrentLinkedQueue<Future<String>> waiting = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < 16; i++) {
            waiting.add(callers.submit(() -> other.get("k")));
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> clusterWaits() >= 1);
        long failedAt = System.nanoTime();
        holderMayFail.countDown();
        for (Future<String> f : waiting) {
            assertThat(f.get(5, TimeUnit.SECONDS)).isEqualTo("from-other");
        }
        assertThat(Duration.ofNanos(System.nanoTime() - failedAt))
                .as("the lease was released at once, not waited out")
                .isLessThan(Duration.ofSeconds(2));
        assertThat(otherLoads).hasValue(1);
        assertThat(holderCall).failsWithin(Duration.ofSeconds(5));
    }

    @Test
    void whenTheLeaseHolderDiesAnotherInstanceLoadsOnceTheLeaseExpires(TestRedis redis) throws Exception {
        // A holder that took the lease and died: nobody releases it.
        try (RedisRemoteStore dead = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build()) {
            assertThat(dead.tryLease("k", "dead-holder", Duration.ofMillis(800))
                            .toCompletableFuture()
                            .get(5, TimeUnit.SECONDS))
                    .isTrue();
        }
        AtomicInteger loads = new AtomicInteger();
        List<TieredCache<String, String>> survivors = List.of(
                instance(redis, k -> "v" + loads.incrementAndGet()),
                instance(redis, k -> "v" + loads.incrementAndGet()));
        CountDownLatch start = new CountDownLatch(1);
        long begin = System.nanoTime();
        List<Future<String>> results = storm(survivors, "k", start);
        start.countDown();
        for (Future<String> f : results) {
            assertThat(f.get(10, TimeUnit.SECONDS)).isEqualTo("v1");
        }
        Duration took = Duration.ofNanos(System.nanoTime() - begin);
        assertThat(took)
                .as("waited for the dead lease, then one survivor loaded")
                .isBetween(Duration.ofMillis(500), Duration.ofSeconds(3));
        assertThat(loads).hasValue(1);
    }
}
