package dev.headroom.ratelimit.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.redis.RedisRateLimiter.FailureMode;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedisCluster;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The exact bound on the 3-master Redis Cluster of {@code scripts/services up}. */
@ExtendWith(HeadroomServices.class)
class RedisClusterRateLimiterIT {

    private final List<AutoCloseable> closeables = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    @Test
    void fourInstancesOnClusterKeysAdmitNoMoreThanTheBoundAndAtLeast99PercentOfIt(TestRedisCluster cluster)
            throws Exception {
        // a burst of half a second: a stall of the callers (2 busy cores, GC) shorter than that
        // leaves the tokens in the bucket for afterwards instead of losing them
        long capacity = 500;
        long perSecond = 1_000;
        RateLimitPolicy policy =
                RateLimitPolicy.of("hot", Bandwidth.greedy(capacity, perSecond, Duration.ofSeconds(1)));
        List<RedisRateLimiter> instances = new ArrayList<>();
        StatefulRedisClusterConnection<String, String> admin = null;
        for (int i = 0; i < 4; i++) {
            RedisClusterClient client = cluster.newClient();
            closeables.add(client::shutdown);
            StatefulRedisClusterConnection<String, String> c = client.connect();
            closeables.add(c);
            admin = c;
            RedisRateLimiter l = RedisRateLimiter.builder()
                    .commands(c.async())
                    .keyPrefix(cluster.keyPrefix())
                    .policy(policy)
                    // a decision timed out on the client may still have taken its token in Redis,
                    // uncounted here: the bound is tested, not the timeout (2 busy cores stall for
                    // more than the default 100 ms under CI)
                    .timeout(Duration.ofSeconds(5))
                    .failureMode(FailureMode.FAIL_CLOSED)
                    .meterRegistry(new SimpleMeterRegistry())
                    .build();
            closeables.add(l);
            instances.add(l);
        }
        // three keys, so that decisions land on more than one master; each key has its own bound
        String[] keys = {"a", "b", "c"};
        AtomicLong[] admitted = {new AtomicLong(), new AtomicLong(), new AtomicLong()};
        AtomicLong degraded = new AtomicLong();
        StatefulRedisClusterConnection<String, String> clock = admin;
        java.util.concurrent.atomic.AtomicReference<List<String>> firstStart =
                new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicReference<List<String>> firstStop =
                new java.util.concurrent.atomic.AtomicReference<>();
        ExecutorService pool = Executors.newFixedThreadPool(24);
        CountDownLatch start = new CountDownLatch(1);
        long runNanos = Duration.ofSeconds(4).toNanos();
        List<Future<?>> threads = new ArrayList<>();
        for (RedisRateLimiter l : instances) {
            for (int t = 0; t < 6; t++) {
                int first = t;
                threads.add(pool.submit(() -> {
                    start.await();
                    if (firstStart.get() == null) {
                        // until a thread gets a core the buckets sit full and their refill is lost:
                        // the lower bound starts when the first one asks
                        firstStart.compareAndSet(null, clock.sync().time());
                    }
                    long end = System.nanoTime() + runNanos;
                    for (int i = first; System.nanoTime() < end; i++) {
                        int k = i % keys.length;
                        Decision d = l.tryAcquire(keys[k]);
                        if (d.degraded()) {
                            degraded.incrementAndGet();
                        } else if (d.allowed()) {
                            admitted[k].incrementAndGet();
                        }
                    }
                    if (firstStop.get() == null) {
                        // until now every thread was drawing on the buckets: the lower bound's end
                        firstStop.compareAndSet(null, clock.sync().time());
                    }
                    return null;
                }));
            }
        }
        // warm up: connections to every master, the script loaded on each; then start from empty
        for (RedisRateLimiter l : instances) {
            for (String k : keys) {
                assertThat(l.tryAcquire(k).degraded()).isFalse();
            }
        }
        for (String k : keys) {
            admin.sync().del(instances.get(0).redisKey(policy, k));
        }
        List<String> t0 = admin.sync().time();
        for (int k = 0; k < keys.length; k++) {
            // each bucket starts now, not when the first of 24 released threads gets a core
            if (instances.get(0).tryAcquire(keys[k]).allowed()) {
                admitted[k].incrementAndGet();
            }
        }
        start.countDown();
        for (Future<?> f : threads) {
            f.get();
        }
        List<String> t1 = admin.sync().time();
        pool.shutdown();
        double elapsed = (Long.parseLong(t1.get(0)) * 1_000_000L
                        + Long.parseLong(t1.get(1))
                        - Long.parseLong(t0.get(0)) * 1_000_000L
                        - Long.parseLong(t0.get(1)))
                / 1e6;
        double bound = capacity + perSecond * elapsed;
        // the lower bound ends when the first thread stopped: a thread descheduled after its last
        // call (two busy cores) adds time at the end in which nobody asks, and nothing can be owed
        List<String> stop = firstStop.get();
        List<String> begun = firstStart.get();
        double busy = (Long.parseLong(stop.get(0)) * 1_000_000L
                        + Long.parseLong(stop.get(1))
                        - Long.parseLong(begun.get(0)) * 1_000_000L
                        - Long.parseLong(begun.get(1)))
                / 1e6;
        double owed = capacity + perSecond * busy;
        System.out.printf(Locale.ROOT, "cluster run: %d degraded decisions%n", degraded.get());
        for (int k = 0; k < keys.length; k++) {
            System.out.printf(
                    Locale.ROOT,
                    "cluster key %s: %d admitted, bound %.1f (%.4f), owed while every thread asked %.1f (%.4f)%n",
                    keys[k],
                    admitted[k].get(),
                    bound,
                    admitted[k].get() / bound,
                    owed,
                    admitted[k].get() / owed);
        }
        assertThat(degraded.get()).isZero();
        for (AtomicLong a : admitted) {
            // masters' clocks are one host's here; 5 ms of slack for the two TIME readings' nodes
            assertThat((double) a.get()).isLessThanOrEqualTo(bound + perSecond * 0.005);
            assertThat((double) a.get()).isGreaterThanOrEqualTo(owed * 0.99);
        }
        assertThat(degraded.get()).isZero();
    }
}
