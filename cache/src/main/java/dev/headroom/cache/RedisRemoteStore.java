package dev.headroom.cache;

import dev.headroom.cache.internal.SharedClientResources;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * A {@link RemoteStore} in Redis, through one shared Lettuce connection.
 *
 * <p>Each cache key is one Redis hash, {@code <prefix>{<key>}}, with field {@code v} (the value)
 * and field {@code ver} (the version); its load lease is the string {@code <prefix>{<key>}:lease}. Keeping both in one key makes every operation a single-key
 * command or script — atomic, one round trip, and valid in Redis Cluster (the hash tag keeps any
 * future companion keys in the same slot). A read is one {@code HMGET}; a fenced write is one Lua
 * script that compares the version and writes. An invalidation deletes the value and bumps the
 * version, keeping the version for {@code fenceTtl} so that a load in flight cannot write back.
 *
 * <p>Thread-safe. Failures complete the returned stages exceptionally; nothing is thrown.
 */
public final class RedisRemoteStore implements RemoteStore {

    /** The Lettuce codec this store's connections use: String keys, byte[] values. */
    public static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

    private static final String PUT_IF_VERSION = """
            local ver = tonumber(redis.call('HGET', KEYS[1], 'ver') or '0')
            if ver ~= tonumber(ARGV[2]) then return 0 end
            redis.call('HSET', KEYS[1], 'v', ARGV[1])
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            return 1
            """;
    private static final String PUT = """
            redis.call('HSET', KEYS[1], 'v', ARGV[1])
            local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return ver
            """;
    private static final String INVALIDATE = """
            redis.call('HDEL', KEYS[1], 'v')
            local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
            return ver
            """;
    private static final String TRY_LEASE = """
            if redis.call('HEXISTS', KEYS[1], 'v') == 1 then return 0 end
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
            return 0
            """;
    private static final String RELEASE_LEASE = """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
            return 0
            """;

    private final RedisClusterAsyncCommands<String, byte[]> redis;
    private final String prefix;
    private final long fenceTtlMillis;
    private final @Nullable AutoCloseable owned;

    private RedisRemoteStore(
            Builder b, RedisClusterAsyncCommands<String, byte[]> redis, @Nullable AutoCloseable owned) {
        this.redis = redis;
        this.prefix = Objects.requireNonNull(b.keyPrefix);
        this.fenceTtlMillis = b.fenceTtl.toMillis();
        this.owned = owned;
    }

    /**
     * Starts building a store.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Returns the Redis key that holds a cache key: {@code <prefix>{<key>}}. */
    public String redisKey(String key) {
        return prefix + "{" + key + "}";
    }

    @Override
    public CompletionStage<RemoteValue> get(String key) {
        return redis.hmget(redisKey(key), "v", "ver").thenApply(RedisRemoteStore::toRemoteValue);
    }

    private static RemoteValue toRemoteValue(List<KeyValue<String, byte[]>> fields) {
        byte[] value = fields.get(0).getValueOrElse(null);
        byte[] ver = fields.get(1).getValueOrElse(null);
        long version = 0;
        if (ver != null) {
            try {
                version = Long.parseLong(new String(ver, StandardCharsets.US_ASCII));
            } catch (NumberFormatException e) {
                // Not ours: an unreadable version must not allow writes (-1 never matches).
                return new RemoteValue(value, -1);
            }
        }
        return value == null && version == 0 ? RemoteValue.ABSENT : new RemoteValue(value, version);
    }

    @Override
    public CompletionStage<Boolean> putIfVersion(String key, byte[] value, long expectedVersion, Duration ttl) {
        return redis.<Long>eval(
                        PUT_IF_VERSION,
                        ScriptOutputType.INTEGER,
                        new String[] {redisKey(key)},
                        value,
                        ascii(expectedVersion),
                        ascii(Math.max(1, ttl.toMillis())))
                .thenApply(written -> written == 1L);
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        return redis.<Long>eval(
                PUT, ScriptOutputType.INTEGER, new String[] {redisKey(key)}, value, ascii(Math.max(1, ttl.toMillis())));
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        return redis.<Long>eval(
                INVALIDATE, ScriptOutputType.INTEGER, new String[] {redisKey(key)}, ascii(fenceTtlMillis));
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        String hash = redisKey(key);
        return redis.<Long>eval(
                        TRY_LEASE,
                        ScriptOutputType.INTEGER,
                        new String[] {hash, hash + ":lease"}, // one hash tag: one slot in a cluster
                        token.getBytes(StandardCharsets.UTF_8),
                        ascii(Math.max(1, ttl.toMillis())))
                .thenApply(granted -> granted == 1L);
    }

    @Override
    public CompletionStage<Void> releaseLease(String key, String token) {
        return redis.<Long>eval(
                        RELEASE_LEASE,
                        ScriptOutputType.INTEGER,
                        new String[] {redisKey(key) + ":lease"},
                        token.getBytes(StandardCharsets.UTF_8))
                .thenApply(deleted -> null);
    }

    @Override
    public CompletionStage<Void> clear() {
        return clearFrom(
                ScanCursor.INITIAL,
                ScanArgs.Builder.matches(globEscape(prefix) + "*").limit(500));
    }

    private CompletionStage<Void> clearFrom(ScanCursor cursor, ScanArgs args) {
        return redis.scan(cursor, args).thenCompose(page -> {
            CompletionStage<?> deleted = page.getKeys().isEmpty()
                    ? CompletableFuture.completedFuture(0L)
                    : redis.unlink(page.getKeys().toArray(new String[0]));
            return deleted.thenCompose(
                    ignored -> page.isFinished() ? CompletableFuture.completedFuture(null) : clearFrom(page, args));
        });
    }

    @Override
    public void close() {
        if (owned != null) {
            try {
                owned.close();
            } catch (Exception e) {
                // closing a client we created; nothing a caller can do
            }
        }
    }

    private static byte[] ascii(long n) {
        return Long.toString(n).getBytes(StandardCharsets.US_ASCII);
    }

    private static String globEscape(String s) {
        return s.replaceAll("([*?\\[\\]\\\\])", "\\\\$1");
    }

    @Override
    public String toString() {
        return "RedisRemoteStore[prefix=" + prefix + "]";
    }

    /** Builds a {@link RedisRemoteStore}. Not thread-safe. */
    public static final class Builder {
        private @Nullable String keyPrefix;
        private @Nullable String uri;
        private @Nullable String clusterUri;
        private @Nullable StatefulRedisConnection<String, byte[]> connection;
        private @Nullable RedisClusterAsyncCommands<String, byte[]> commands;
        private Duration fenceTtl = Duration.ofHours(1);

        private Builder() {}

        /**
         * The prefix of every key this store writes, such as {@code "products:"}; {@link #clear()}
         * removes exactly the keys under it. Required.
         *
         * @param keyPrefix 1 to 128 characters, no whitespace
         * @return this builder
         */
        public Builder keyPrefix(String keyPrefix) {
            Objects.requireNonNull(keyPrefix, "keyPrefix");
            if (keyPrefix.isEmpty()
                    || keyPrefix.length() > 128
                    || keyPrefix.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException(
                        "keyPrefix must be 1 to 128 characters without whitespace, got '" + keyPrefix + "'");
            }
            this.keyPrefix = keyPrefix;
            return this;
        }

        /**
         * Connect to this Redis; the store owns (and closes) the client.
         *
         * @param uri such as {@code redis://127.0.0.1:6379}
         * @return this builder
         */
        public Builder uri(String uri) {
            Objects.requireNonNull(uri, "uri");
            RedisURI.create(uri); // validates, throwing IllegalArgumentException naming the URI
            this.uri = uri;
            return this;
        }

        /**
         * Connect to a Redis Cluster through one of its nodes; the store owns (and closes) the
         * client. Lettuce discovers the other nodes and follows slot moves.
         *
         * @param clusterUri such as {@code redis://127.0.0.1:7001}
         * @return this builder
         */
        public Builder clusterUri(String clusterUri) {
            Objects.requireNonNull(clusterUri, "clusterUri");
            RedisURI.create(clusterUri);
            this.clusterUri = clusterUri;
            return this;
        }

        /**
         * Use an existing connection made with {@link #CODEC}; the caller keeps owning it.
         *
         * @param connection an open connection
         * @return this builder
         */
        public Builder connection(StatefulRedisConnection<String, byte[]> connection) {
            this.connection = Objects.requireNonNull(connection, "connection");
            return this;
        }

        /**
         * Use existing async commands made with {@link #CODEC} — standalone, or a Redis Cluster
         * connection's {@code async()}; the caller keeps owning the connection.
         *
         * @param commands the commands
         * @return this builder
         */
        public Builder commands(RedisClusterAsyncCommands<String, byte[]> commands) {
            this.commands = Objects.requireNonNull(commands, "commands");
            return this;
        }

        /**
         * How long an invalidated key's version outlives its value, fencing loads slower than this
         * is pointless. Default 1 hour.
         *
         * @param fenceTtl positive
         * @return this builder
         */
        public Builder fenceTtl(Duration fenceTtl) {
            Objects.requireNonNull(fenceTtl, "fenceTtl");
            if (fenceTtl.isNegative() || fenceTtl.isZero()) {
                throw new IllegalArgumentException("fenceTtl must be positive, got " + fenceTtl);
            }
            this.fenceTtl = fenceTtl;
            return this;
        }

        /**
         * Builds the store, connecting if given a URI.
         *
         * @return the store
         * @throws IllegalStateException if no prefix, or not exactly one of uri / connection /
         *     commands, was given
         * @throws io.lettuce.core.RedisConnectionException if connecting to {@code uri} fails
         */
        public RedisRemoteStore build() {
            if (keyPrefix == null) {
                throw new IllegalStateException("keyPrefix is required");
            }
            int sources = (uri != null ? 1 : 0)
                    + (clusterUri != null ? 1 : 0)
                    + (connection != null ? 1 : 0)
                    + (commands != null ? 1 : 0);
            if (sources != 1) {
                throw new IllegalStateException(
                        "set exactly one of uri, clusterUri, connection or commands (got " + sources + ")");
            }
            if (clusterUri != null) {
                RedisClusterClient cluster = RedisClusterClient.create(SharedClientResources.get(), clusterUri);
                // Node connections open lazily, so commands must wait for them; bound the queue and
                // each command's life instead, so an outage cannot pile up work for the reconnect.
                cluster.setOptions(ClusterClientOptions.builder()
                        .autoReconnect(true)
                        .requestQueueSize(4_096)
                        .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(5)))
                        .build());
                try {
                    StatefulRedisClusterConnection<String, byte[]> own = cluster.connect(CODEC);
                    return new RedisRemoteStore(this, own.async(), () -> {
                        own.close();
                        cluster.shutdown();
                    });
                } catch (RuntimeException e) {
                    cluster.shutdown();
                    throw e;
                }
            }
            if (commands != null) {
                return new RedisRemoteStore(this, commands, null);
            }
            if (connection != null) {
                return new RedisRemoteStore(this, connection.async(), null);
            }
            RedisClient client = RedisClient.create(SharedClientResources.get(), Objects.requireNonNull(uri));
            // While disconnected, fail commands at once instead of queueing them to flood Redis on
            // reconnect: the cache's breaker and loader take over meanwhile.
            client.setOptions(ClientOptions.builder()
                    .autoReconnect(true)
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                    .build());
            try {
                StatefulRedisConnection<String, byte[]> own = client.connect(CODEC);
                return new RedisRemoteStore(this, own.async(), () -> {
                    own.close();
                    client.shutdown();
                });
            } catch (RuntimeException e) {
                client.shutdown();
                throw e;
            }
        }
    }
}
