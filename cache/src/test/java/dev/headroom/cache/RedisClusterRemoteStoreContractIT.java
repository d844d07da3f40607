package dev.headroom.cache;

import static org.awaitility.Awaitility.await;

import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedisCluster;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.awaitility.core.ThrowingRunnable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link RedisRemoteStore} keeps every {@link RemoteStore} promise on a 3-master Redis Cluster (from
 * {@code scripts/services up}; the test fails, saying so, if it is not running), where one store's
 * keys spread over the masters and its generation key sits on one of them. Each test works under a
 * random prefix of its own, deleted after it.
 */
@ExtendWith(HeadroomServices.class)
class RedisClusterRemoteStoreContractIT extends RemoteStoreContract {

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private TestRedisCluster cluster;
    private RedisRemoteStore store;
    private StatefulRedisClusterConnection<String, String> raw;

    @BeforeEach
    void connect(TestRedisCluster cluster) {
        this.cluster = cluster;
        this.store = open("user");
        RedisClusterClient client = cluster.newClient();
        closeables.add(client::shutdown);
        raw = client.connect();
        closeables.add(raw);
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
    }

    /** A store under this test's prefix followed by {@code name}. */
    private RedisRemoteStore open(String name) {
        RedisRemoteStore s = RedisRemoteStore.builder()
                .clusterUri(cluster.uri())
                .keyPrefix(cluster.keyPrefix() + name)
                .build();
        closeables.add(s);
        return answering(s);
    }

    @Override
    RemoteStore store() {
        return store;
    }

    @Override
    RemoteStore secondInstance() {
        return open("user");
    }

    @Override
    RemoteStore neighbour() {
        return open("users:");
    }

    @Override
    void loseRecord(String key) {
        raw.sync().del(store.redisKey(key));
    }

    @Override
    Duration shortTtl() {
        return Duration.ofMillis(200);
    }

    @Override
    void afterTtl(Duration ttl, ThrowingRunnable check) {
        await().pollDelay(ttl).pollInterval(Duration.ofMillis(20)).atMost(CALL).untilAsserted(check);
    }
}
