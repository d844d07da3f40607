package dev.headroom.testing;

import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisKeyCommands;

/**
 * The real Redis, with a key prefix of this test's own. Tests put every key they create under
 * {@link #keyPrefix()}; closing deletes every key under it, so tests run repeatedly and in parallel
 * without seeing each other's data.
 *
 * <p>Thread-safe.
 */
public final class TestRedis implements AutoCloseable {

    private final RedisEndpoint endpoint;
    private final String keyPrefix;

    TestRedis(RedisEndpoint endpoint) {
        this.endpoint = endpoint;
        this.keyPrefix = TestDatabase.uniqueName("hr:t:") + ":";
    }

    /** Returns where Redis is. */
    public RedisEndpoint endpoint() {
        return endpoint;
    }

    /** Returns the Redis URI, {@code redis://host:port}. */
    public String uri() {
        return endpoint.uri();
    }

    /** Returns this test's key prefix, such as {@code hr:t:3f9a1c2b7d4e:}. */
    public String keyPrefix() {
        return keyPrefix;
    }

    /**
     * Returns {@code keyPrefix() + suffix}.
     *
     * @param suffix the rest of the key
     * @return the full key
     */
    public String key(String suffix) {
        return keyPrefix + suffix;
    }

    /**
     * Creates a new Lettuce client for this Redis. The caller shuts it down.
     *
     * @return the client
     */
    public RedisClient newClient() {
        return RedisClient.create(endpoint.uri());
    }

    /** Deletes every key under this test's prefix. */
    @Override
    public void close() {
        RedisClient client = newClient();
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            deleteKeysUnder(connection.sync(), keyPrefix);
        } finally {
            client.shutdown();
        }
    }

    /**
     * SCANs and UNLINKs every key starting with {@code prefix}. Works on a standalone connection and
     * on a cluster connection, whose SCAN visits every master and whose UNLINK splits by slot.
     */
    static void deleteKeysUnder(RedisKeyCommands<String, String> redis, String prefix) {
        ScanArgs match = ScanArgs.Builder.matches(prefix + "*").limit(500);
        ScanCursor cursor = ScanCursor.INITIAL;
        do {
            KeyScanCursor<String> page = redis.scan(cursor, match);
            if (!page.getKeys().isEmpty()) {
                redis.unlink(page.getKeys().toArray(new String[0]));
            }
            cursor = page;
        } while (!cursor.isFinished());
    }

    @Override
    public String toString() {
        return "TestRedis[" + endpoint.uri() + ", prefix " + keyPrefix + "]";
    }
}
