package dev.headroom.examples.shop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * What the shop runs against and how it behaves. {@link #fromEnvironment(Map)} reads the {@code
 * SHOP_*} variables (defaults: the local services of {@code scripts/services up}); tests build one
 * with {@link #of(List, String, String)} and the {@code with...} methods.
 *
 * @param port the HTTP port; 0 picks a free one
 * @param shards the shard databases, in order (a tenant's shard is a jump hash over this list)
 * @param redisUri the Redis for the cache's L2, its invalidation bus and the rate limiter
 * @param redisKeyPrefix prefix of every Redis key and channel the shop uses
 * @param tenants how many tenants get seeded products (tenants 1..n)
 * @param productsPerTenant how many products each seeded tenant has (ids 1..n)
 * @param poolSize the largest JDBC pool per server per shard (primary and replica)
 * @param anonymousPerMinute requests per minute for a caller without {@code Api-Key}, per IP
 * @param apiKeyPerSecond requests per second (and burst) per API key
 * @param confirmationFailureRate the fraction of orders whose confirmation always fails, 0..1
 * @param confirmationAttempts attempts of a confirmation job before it becomes a dead letter
 * @param retryDelay the base delay before a failed confirmation is retried
 * @param maxTokenWait how long a read-your-writes read waits for a replica before using the primary
 *     Immutable.
 */
public record ShopConfig(
        int port,
        List<Shard> shards,
        String redisUri,
        String redisKeyPrefix,
        int tenants,
        int productsPerTenant,
        int poolSize,
        long anonymousPerMinute,
        long apiKeyPerSecond,
        double confirmationFailureRate,
        int confirmationAttempts,
        Duration retryDelay,
        Duration maxTokenWait) {

    /**
     * One shard: its database on the primary and, where there is one, on the streaming replica.
     *
     * @param name the shard's name (also its label in metrics and logs)
     * @param primaryUrl a pgjdbc URL of the shard's database on the primary
     * @param replicaUrl a pgjdbc URL of the same database on the replica, or null for none
     */
    public record Shard(
            String name, String primaryUrl, @Nullable String replicaUrl) {
        public Shard {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(primaryUrl, "primaryUrl");
        }
    }

    public ShopConfig {
        shards = List.copyOf(shards);
        if (shards.isEmpty()) {
            throw new IllegalArgumentException("shards must not be empty");
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be 0..65535, got " + port);
        }
        if (!(confirmationFailureRate >= 0 && confirmationFailureRate <= 1)) {
            throw new IllegalArgumentException("confirmationFailureRate must be 0..1, got " + confirmationFailureRate);
        }
        if (tenants < 1 || productsPerTenant < 1 || poolSize < 2 || confirmationAttempts < 1) {
            throw new IllegalArgumentException("tenants, productsPerTenant, confirmationAttempts must be >= 1"
                    + " and poolSize >= 2, got " + tenants + ", " + productsPerTenant + ", "
                    + confirmationAttempts + ", " + poolSize);
        }
        if (anonymousPerMinute < 1 || apiKeyPerSecond < 1) {
            throw new IllegalArgumentException("rate limits must be >= 1, got anonymousPerMinute=" + anonymousPerMinute
                    + ", apiKeyPerSecond=" + apiKeyPerSecond);
        }
    }

    /** A configuration with the shop's defaults for everything but the services. */
    public static ShopConfig of(List<Shard> shards, String redisUri, String redisKeyPrefix) {
        return new ShopConfig(
                7070,
                shards,
                redisUri,
                redisKeyPrefix,
                20,
                100,
                5,
                60,
                100,
                0.1,
                3,
                Duration.ofSeconds(1),
                Duration.ofMillis(500));
    }

    /**
     * Reads the configuration from environment variables:
     *
     * <ul>
     *   <li>{@code SHOP_PORT} (7070);
     *   <li>{@code SHOP_PG_URL}, a pgjdbc URL of the primary's server (its database part is
     *       replaced by each shard's: {@code jdbc:postgresql://127.0.0.1:5432/postgres?user=postgres});
     *   <li>{@code SHOP_PG_REPLICA_URL}, the same for the replica ({@code ...:5433/...}; {@code none}
     *       for no replica);
     *   <li>{@code SHOP_SHARDS}, the number of shard databases {@code shop_0..shop_n-1} (4);
     *   <li>{@code SHOP_REDIS_URL} ({@code redis://127.0.0.1:6379});
     *   <li>{@code SHOP_CONFIRMATION_FAILURE_RATE} (0.1).
     * </ul>
     */
    public static ShopConfig fromEnvironment(Map<String, String> env) {
        String pg = env.getOrDefault("SHOP_PG_URL", "jdbc:postgresql://127.0.0.1:5432/postgres?user=postgres");
        String replica =
                env.getOrDefault("SHOP_PG_REPLICA_URL", "jdbc:postgresql://127.0.0.1:5433/postgres?user=postgres");
        int count = Integer.parseInt(env.getOrDefault("SHOP_SHARDS", "4"));
        List<Shard> shards = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String db = "shop_" + i;
            shards.add(new Shard(db, withDatabase(pg, db), "none".equals(replica) ? null : withDatabase(replica, db)));
        }
        ShopConfig defaults = of(shards, env.getOrDefault("SHOP_REDIS_URL", "redis://127.0.0.1:6379"), "shop:");
        return defaults.withPort(Integer.parseInt(env.getOrDefault("SHOP_PORT", "7070")))
                .withConfirmationFailureRate(
                        Double.parseDouble(env.getOrDefault("SHOP_CONFIRMATION_FAILURE_RATE", "0.1")));
    }

    /**
     * Returns {@code url} with its database replaced: {@code jdbc:postgresql://h:5432/x?u=v} with
     * {@code shop_0} is {@code jdbc:postgresql://h:5432/shop_0?u=v}.
     */
    public static String withDatabase(String url, String database) {
        String prefix = "jdbc:postgresql://";
        if (!url.startsWith(prefix)) {
            throw new IllegalArgumentException("not a pgjdbc URL (jdbc:postgresql://host:port/db): " + url);
        }
        int slash = url.indexOf('/', prefix.length());
        int query = url.indexOf('?');
        String host = slash < 0 ? url.substring(0, query < 0 ? url.length() : query) : url.substring(0, slash);
        return host + "/" + database + (query < 0 ? "" : url.substring(query));
    }

    public ShopConfig withPort(int port) {
        return new ShopConfig(
                port,
                shards,
                redisUri,
                redisKeyPrefix,
                tenants,
                productsPerTenant,
                poolSize,
                anonymousPerMinute,
                apiKeyPerSecond,
                confirmationFailureRate,
                confirmationAttempts,
                retryDelay,
                maxTokenWait);
    }

    public ShopConfig withPoolSize(int poolSize) {
        return new ShopConfig(
                port,
                shards,
                redisUri,
                redisKeyPrefix,
                tenants,
                productsPerTenant,
                poolSize,
                anonymousPerMinute,
                apiKeyPerSecond,
                confirmationFailureRate,
                confirmationAttempts,
                retryDelay,
                maxTokenWait);
    }

    public ShopConfig withRateLimits(long anonymousPerMinute, long apiKeyPerSecond) {
        return new ShopConfig(
                port,
                shards,
                redisUri,
                redisKeyPrefix,
                tenants,
                productsPerTenant,
                poolSize,
                anonymousPerMinute,
                apiKeyPerSecond,
                confirmationFailureRate,
                confirmationAttempts,
                retryDelay,
                maxTokenWait);
    }

    public ShopConfig withConfirmationFailureRate(double rate) {
        return new ShopConfig(
                port,
                shards,
                redisUri,
                redisKeyPrefix,
                tenants,
                productsPerTenant,
                poolSize,
                anonymousPerMinute,
                apiKeyPerSecond,
                rate,
                confirmationAttempts,
                retryDelay,
                maxTokenWait);
    }

    public ShopConfig withConfirmationRetries(int attempts, Duration retryDelay) {
        return new ShopConfig(
                port,
                shards,
                redisUri,
                redisKeyPrefix,
                tenants,
                productsPerTenant,
                poolSize,
                anonymousPerMinute,
                apiKeyPerSecond,
                confirmationFailureRate,
                attempts,
                retryDelay,
                maxTokenWait);
    }
}
