package dev.headroom.ratelimit.redis;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedisCluster;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
        // a burst of three seconds: a stall of every caller (2 busy cores, 3 masters, GC) shorter
        // than that leaves the tokens in the bucket for later instead of losing them (ExactBoundRun)
        long capacity = 3_000;
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
            RedisRateLimiter l = ExactBoundRun.limiter(c.async(), cluster.keyPrefix(), policy)
                    .build();
            closeables.add(l);
            instances.add(l);
        }
        // three keys, so that decisions land on more than one master; each key has its own bound
        List<String> keys = List.of("a", "b", "c");
        StatefulRedisClusterConnection<String, String> clock = admin;
        ExactBoundRun.Result result = ExactBoundRun.run(
                instances,
                6,
                keys,
                Duration.ofSeconds(4),
                policy,
                () -> {
                    List<String> t = clock.sync().time();
                    return Long.parseLong(t.get(0)) * 1_000_000L + Long.parseLong(t.get(1));
                },
                key -> clock.sync().del(key),
                instances.get(0));
        result.print("cluster");
        // masters' clocks are one host's here; 5 ms of slack for the TIME readings' nodes
        result.assertExact(perSecond * 0.005, 0);
    }
}
