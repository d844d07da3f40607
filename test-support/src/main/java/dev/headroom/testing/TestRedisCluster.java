package dev.headroom.testing;

import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;

/**
 * A real Redis Cluster (3 masters from {@code scripts/services up}), with a key prefix of this
 * test's own; closing deletes every key under it on every master. Thread-safe.
 */
public final class TestRedisCluster implements AutoCloseable {

    private final RedisEndpoint seed;
    private final String keyPrefix;

    TestRedisCluster(RedisEndpoint seed) {
        this.seed = seed;
        this.keyPrefix = TestDatabase.uniqueName("hr:t:") + ":";
    }

    /** Returns the URI of one node; cluster clients discover the others from it. */
    public String uri() {
        return seed.uri();
    }

    /** Returns this test's key prefix. */
    public String keyPrefix() {
        return keyPrefix;
    }

    /**
     * Creates a new Lettuce cluster client. The caller shuts it down.
     *
     * @return the client
     */
    public RedisClusterClient newClient() {
        return RedisClusterClient.create(seed.uri());
    }

    @Override
    public void close() {
        RedisClusterClient client = newClient();
        try (StatefulRedisClusterConnection<String, String> connection = client.connect()) {
            TestRedis.deleteKeysUnder(connection.sync(), keyPrefix);
        } finally {
            client.shutdown();
        }
    }

    @Override
    public String toString() {
        return "TestRedisCluster[" + seed.uri() + ", prefix " + keyPrefix + "]";
    }
}
