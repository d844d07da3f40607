package dev.headroom.examples.shop;

import dev.headroom.core.Criticality;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
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
 * @param apiKeys the API keys the shop has issued, each with the highest criticality its caller may
 *     claim in {@code X-Criticality}; a request with any other key is refused (401), so a client
 *     cannot mint keys to escape the anonymous tier or raise its own criticality
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
        Duration maxTokenWait,
        Map<String, Criticality> apiKeys) {

    /** What a well-formed API key looks like, and its description in error messages. */
    static final Pattern API_KEY = Pattern.compile("[A-Za-z0-9._-]{1,64}");

    static final String API_KEY_RULE = "1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

    /**
     * The keys a demonstration shop issues: {@code demo-1} .. {@code demo-16} (DEFAULT at most; the
     * load scenario's clients and the tests), {@code demo-abuser} (the load scenario's abusive
     * client), {@code demo-checkout} (may claim CRITICAL) and {@code demo-batch} (SHEDDABLE at most:
     * background work).
     */
    public static final Map<String, Criticality> DEMO_API_KEYS = demoKeys();

    private static Map<String, Criticality> demoKeys() {
        Map<String, Criticality> keys = new LinkedHashMap<>();
        for (int i = 1; i <= 16; i++) {
            keys.put("demo-" + i, Criticality.DEFAULT);
        }
        keys.put("demo-abuser", Criticality.DEFAULT);
        keys.put("demo-checkout", Criticality.CRITICAL);
        keys.put("demo-batch", Criticality.SHEDDABLE);
        return Map.copyOf(keys);
    }

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
        apiKeys = Map.copyOf(apiKeys);
        for (String key : apiKeys.keySet()) {
            if (!API_KEY.matcher(key).matches()) {
                throw new IllegalArgumentException("API keys must be " + API_KEY_RULE + ", got '" + key + "'");
            }
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
                Duration.ofMillis(500),
                DEMO_API_KEYS);
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
     *   <li>{@code SHOP_CONFIRMATION_FAILURE_RATE} (0.1);
     *   <li>{@code SHOP_API_KEYS}, the issued keys as {@code key:criticality,...} (for example
     *       {@code partner-a:default,checkout:critical}); the demo keys of {@link #DEMO_API_KEYS}
     *       when unset.
     * </ul>
     *
     * @throws IllegalArgumentException if a value does not parse, naming the variable
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
        String keys = env.get("SHOP_API_KEYS");
        return defaults.withPort(Integer.parseInt(env.getOrDefault("SHOP_PORT", "7070")))
                .withConfirmationFailureRate(
                        Double.parseDouble(env.getOrDefault("SHOP_CONFIRMATION_FAILURE_RATE", "0.1")))
                .withApiKeys(keys == null ? DEMO_API_KEYS : parseApiKeys(keys));
    }

    /** The criticality named {@code critical}, {@code default} or {@code sheddable} (any case), else null. */
    static @Nullable Criticality criticalityNamed(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "critical" -> Criticality.CRITICAL;
            case "default" -> Criticality.DEFAULT;
            case "sheddable" -> Criticality.SHEDDABLE;
            default -> null;
        };
    }

    /** Parses {@code key:criticality,...}; criticality is critical, default or sheddable. */
    static Map<String, Criticality> parseApiKeys(String spec) {
        Map<String, Criticality> keys = new LinkedHashMap<>();
        for (String entry : spec.split(",", -1)) {
            String trimmed = entry.strip();
            int colon = trimmed.lastIndexOf(':');
            if (colon < 1) {
                throw new IllegalArgumentException(
                        "SHOP_API_KEYS entries must be key:criticality (critical, default or sheddable), got '"
                                + trimmed + "'");
            }
            String key = trimmed.substring(0, colon);
            String level = trimmed.substring(colon + 1);
            Criticality criticality = criticalityNamed(level);
            if (criticality == null) {
                throw new IllegalArgumentException("SHOP_API_KEYS: criticality must be critical, default or sheddable,"
                        + " got '" + level + "' for key '" + key + "'");
            }
            if (keys.put(key, criticality) != null) {
                throw new IllegalArgumentException("SHOP_API_KEYS names key '" + key + "' twice");
            }
        }
        return keys;
    }

    /**
     * Returns {@code url} with its database replaced: {@code jdbc:postgresql://h:5432/x?u=v} with
     * {@code shop_0} is {@code jdbc:postgresql://h:5432/shop_0?u=v}.
     */
    public static String withDatabase(String url, String database) {
        String prefix = "jdbc:postgresql://";
        String local = "jdbc:postgresql:";
        if (!url.startsWith(local)) {
            throw new IllegalArgumentException("not a pgjdbc URL (jdbc:postgresql://host:port/db): " + url);
        }
        if (!url.startsWith(prefix)) {
            // pgjdbc's short forms for localhost:5432: jdbc:postgresql:db and jdbc:postgresql:/
            int query = url.indexOf('?');
            return local + database + (query < 0 ? "" : url.substring(query));
        }
        int query = url.indexOf('?');
        int end = query < 0 ? url.length() : query;
        // the database part is the path before the query; a '/' inside the query is not one
        int slash = url.indexOf('/', prefix.length());
        String host = slash < 0 || slash > end ? url.substring(0, end) : url.substring(0, slash);
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
                maxTokenWait,
                apiKeys);
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
                maxTokenWait,
                apiKeys);
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
                maxTokenWait,
                apiKeys);
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
                maxTokenWait,
                apiKeys);
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
                maxTokenWait,
                apiKeys);
    }

    public ShopConfig withApiKeys(Map<String, Criticality> apiKeys) {
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
                maxTokenWait,
                apiKeys);
    }
}
