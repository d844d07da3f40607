package dev.headroom.examples.shop;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;
import dev.headroom.cache.CacheLoadException;
import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.JsonCodec;
import dev.headroom.queue.JobWorker;
import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.LocalRateLimiter;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.RateLimiter;
import dev.headroom.ratelimit.redis.RedisRateLimiter;
import io.javalin.Javalin;
import io.javalin.http.Handler;
import io.javalin.json.JavalinJackson;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisException;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The example shop: a multi-tenant web app on Javalin in which every Headroom component does its
 * job. Each component is wired in this class, a few lines each, in {@link #start(ShopConfig)}:
 * shards and routers ({@link ShopShards}), the product caches, the rate limiter, the confirmation
 * workers, metrics, and the routes.
 *
 * <p>Run it with {@link #main(String[])} (configuration from {@code SHOP_*} environment variables,
 * see {@link ShopConfig#fromEnvironment(Map)}); tests call {@link #start(ShopConfig)} with port 0.
 * Thread-safe; {@link #close()} stops the server and releases everything.
 */
public final class ShopApp implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShopApp.class);

    private final PrometheusMeterRegistry registry;
    private final List<AutoCloseable> resources;
    private final List<JobWorker> workers;
    private final Confirmations confirmations;
    private final RecommendationService recommendationService;
    private final Recommendations recommendations;
    private final Javalin http;

    private ShopApp(
            PrometheusMeterRegistry registry,
            List<AutoCloseable> resources,
            List<JobWorker> workers,
            Confirmations confirmations,
            RecommendationService recommendationService,
            Recommendations recommendations,
            Javalin http) {
        this.registry = registry;
        this.resources = resources;
        this.workers = workers;
        this.confirmations = confirmations;
        this.recommendationService = recommendationService;
        this.recommendations = recommendations;
        this.http = http;
    }

    /** Starts the shop with the {@code SHOP_*} environment, creating missing shard databases. */
    public static void main(String[] args) throws Exception {
        ShopConfig config = ShopConfig.fromEnvironment(System.getenv());
        createMissingDatabases(config);
        ShopApp app = start(config);
        Runtime.getRuntime().addShutdownHook(new Thread(app::close, "shop-shutdown"));
        log.info("shop serving on http://127.0.0.1:{}/ (dashboard: /dashboard, metrics: /metrics)", app.port());
    }

    /**
     * Starts the shop: opens the shards (creating the schema and seeding the catalog), connects to
     * Redis, starts the confirmation workers and the HTTP server.
     *
     * @throws SQLException if a shard's primary cannot be reached
     */
    public static ShopApp start(ShopConfig config) throws SQLException {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        List<AutoCloseable> resources = new ArrayList<>();
        List<JobWorker> workers = new ArrayList<>();
        ShopShards shards = ShopShards.open(config, registry);
        resources.add(shards);
        try {
            Catalog catalog = new Catalog(tenant -> shards.forTenant(tenant).router(), registry);

            // Every Redis client goes through a link the operator can cut (/admin/redis?state=cut).
            RedisLink redisLink = openLink(config.redisUri());
            resources.add(redisLink);
            String redisUri = redisLink.uri();

            // Cache: Caffeine L1 over Redis L2 over replica reads; one load per key at a time.
            String prefix = config.redisKeyPrefix();
            TieredCache<String, Product> products = TieredCache.<String, Product>builder("products")
                    .maximumSize(50_000)
                    .ttl(Duration.ofMinutes(5))
                    .staleWhileRevalidate(Duration.ofMinutes(1))
                    .negativeTtl(Duration.ofSeconds(30))
                    .remote(remote(redisUri, prefix + "products:"), JsonCodec.of(Product.class))
                    .invalidationBus(RedisInvalidationBus.create(redisUri, prefix + "products:invalidations"))
                    .keyDecoder(Function.identity())
                    .loader(key -> catalog.product(tenantOf(key), idOf(key)))
                    .meterRegistry(registry)
                    .build();
            resources.add(0, products);
            TieredCache<String, ProductList> lists = TieredCache.<String, ProductList>builder("product-lists")
                    .maximumSize(10_000)
                    .ttl(Duration.ofSeconds(30))
                    .remote(remote(redisUri, prefix + "lists:"), JsonCodec.of(ProductList.class))
                    .keyDecoder(Function.identity())
                    .loader(tenant -> catalog.list(Long.parseLong(tenant)))
                    .meterRegistry(registry)
                    .build();
            resources.add(0, lists);

            // Rate limit: one Redis script call per decision; anonymous callers get the lower tier.
            RateLimitPolicy anonymous = RateLimitPolicy.of(
                    "anonymous", Bandwidth.perPeriod(config.anonymousPerMinute(), Duration.ofMinutes(1)));
            RateLimitPolicy apiKey = RateLimitPolicy.of(
                    "api-key",
                    Bandwidth.greedy(config.apiKeyPerSecond(), config.apiKeyPerSecond(), Duration.ofSeconds(1)));
            Function<String, RateLimitPolicy> policies = key -> key.startsWith("anon:") ? anonymous : apiKey;
            StatefulRedisConnection<String, String> redis = connect(redisUri, resources);
            RateLimiter limiter;
            if (redis != null) {
                limiter = RedisRateLimiter.builder()
                        .commands(redis.async())
                        .keyPrefix(prefix + "rl:")
                        .policies(policies::apply)
                        .failureMode(RedisRateLimiter.FailureMode.FAIL_OPEN) // Redis lost later: local limits
                        .meterRegistry(registry)
                        .build();
                log.info("rate limits in Redis at {}", redisUri);
            } else {
                limiter = LocalRateLimiter.builder()
                        .policies(policies::apply)
                        .meterRegistry(registry)
                        .build();
                log.warn("Redis at {} not reachable: rate limits are local to this instance", redisUri);
            }

            // Queue workers: each shard confirms its own orders, in the job's transaction.
            Confirmations confirmations = new Confirmations(config.confirmationFailureRate());
            for (ShopShards.Shard shard : shards.all()) {
                workers.add(JobWorker.builder(shard.queue())
                        .queue(shard.queueName(), 2)
                        .transactionalHandler(Orders.CONFIRM, Codec.utf8(), confirmations::handle)
                        .statsInterval(Duration.ofSeconds(1))
                        .meterRegistry(registry)
                        .build()
                        .start());
            }

            // Recommendations: a slow, flaky dependency behind a guard, with popular products as fallback.
            RecommendationService recommendationService = new RecommendationService(
                    RecommendationService.DEFAULT_LATENCY, RecommendationService.DEFAULT_FAILURE_FRACTION);
            Recommendations recommendations = new Recommendations(recommendationService, lists, registry);
            resources.add(0, recommendations);

            ShopApi api = new ShopApi(
                    products,
                    lists,
                    new Orders(shards, config.confirmationAttempts()),
                    shards,
                    limiter,
                    recommendations,
                    config.apiKeys());
            List<String> replicaUrls = new ArrayList<>();
            for (ShopConfig.Shard spec : config.shards()) {
                String url = spec.replicaUrl();
                if (url != null) {
                    replicaUrls.add(url);
                }
            }
            AdminApi admin = new AdminApi(shards, confirmations, replicaUrls, recommendationService, redisLink);
            resources.add(0, admin::resumeReplayIfPaused); // a shop stopping never leaves replicas paused
            Dashboard dashboard = new Dashboard(registry);
            Health health = new Health(shards, redis);
            Javalin http = Javalin.create(c -> {
                c.startup.showJavalinBanner = false;
                c.jsonMapper(new JavalinJackson(strictJson(), false));
                c.routes.before(ctx -> {
                    if (ShopApi.isLimited(ctx.path())) {
                        api.rateLimit(ctx);
                    } else if (ctx.path().startsWith("/admin")) {
                        AdminApi.loopbackOnly(ctx);
                    }
                });
                c.routes.get("/products", timed(registry, "products.list", api::list));
                c.routes.get("/products/{id}", timed(registry, "products.get", api::product));
                c.routes.get(
                        "/products/{id}/recommendations",
                        timed(registry, "products.recommendations", api::recommendations));
                c.routes.post("/orders", timed(registry, "orders.place", api::placeOrder));
                c.routes.get("/orders/{id}", timed(registry, "orders.get", api::order));
                c.routes.get("/admin/dead-letters", admin::deadLetters);
                c.routes.post("/admin/dead-letters/replay", admin::replay);
                c.routes.post("/admin/confirmation-failure-rate", admin::failureRate);
                c.routes.post("/admin/replica-replay", admin::replicaReplay);
                c.routes.post("/admin/recommendations/latency", admin::recommendationLatency);
                c.routes.post("/admin/recommendations/failure-fraction", admin::recommendationFailures);
                c.routes.post("/admin/redis", admin::redisLink);
                c.routes.get("/health", health::handle);
                c.routes.get(
                        "/metrics",
                        ctx -> ctx.contentType("text/plain; version=0.0.4; charset=utf-8")
                                .result(registry.scrape()));
                c.routes.get("/dashboard", ctx -> ctx.html(dashboard.page()));
                c.routes.get("/dashboard/data", ctx -> ctx.json(dashboard.data()));
                c.routes.get("/", ctx -> ctx.redirect("/dashboard"));
                c.routes.exception(ApiError.class, (e, ctx) -> error(ctx, e.status(), String.valueOf(e.getMessage())));
                // Javalin's own refusals (no such endpoint or method, 404/405) in the shop's JSON too
                c.routes.exception(
                        io.javalin.http.HttpResponseException.class,
                        (e, ctx) -> error(
                                ctx,
                                e.getStatus(),
                                ctx.method() + " " + ctx.path() + ": "
                                        + String.valueOf(e.getMessage()).toLowerCase(java.util.Locale.ROOT)));
                c.routes.exception(CacheLoadException.class, (e, ctx) -> {
                    log.debug("a catalog read failed: {}", e.toString()); // the router logs the database's state
                    error(ctx, 503, "the catalog is unavailable, retry later");
                });
                c.routes.exception(Exception.class, (e, ctx) -> {
                    log.warn("{} {} failed", ctx.method(), ctx.path(), e);
                    error(ctx, 500, "internal error: " + e.getClass().getSimpleName());
                });
            });
            ShopApp app = new ShopApp(
                    registry, resources, workers, confirmations, recommendationService, recommendations, http);
            http.start(config.port());
            log.info(
                    "shop started on port {}: {} shards, Redis {}",
                    http.port(),
                    shards.all().size(),
                    config.redisUri());
            return app;
        } catch (RuntimeException e) {
            workers.forEach(w -> w.shutdown(Duration.ofSeconds(5)));
            closeAll(resources);
            throw e;
        }
    }

    /** The port the server listens on. */
    public int port() {
        return http.port();
    }

    /** The registry every component publishes to (what {@code /metrics} serves). */
    public MeterRegistry meterRegistry() {
        return registry;
    }

    /** Sets the fraction of orders whose confirmation fails (as {@code /admin} does). */
    public void setConfirmationFailureRate(double rate) {
        confirmations.setFailureRate(rate);
    }

    /** The simulated recommendation service (its latency and failures, as {@code /admin} sets them). */
    RecommendationService recommendationService() {
        return recommendationService;
    }

    /** The guarded recommendations (its guard's limit and calls in flight). */
    Recommendations recommendations() {
        return recommendations;
    }

    /** Stops the HTTP server, lets the workers finish, closes caches, Redis and the shards. */
    @Override
    public void close() {
        http.stop();
        for (JobWorker worker : workers) {
            worker.shutdown(Duration.ofSeconds(5));
        }
        closeAll(resources);
        registry.close();
    }

    /** Creates each shard's database on its primary server if it does not exist yet. */
    static void createMissingDatabases(ShopConfig config) throws SQLException {
        for (ShopConfig.Shard shard : config.shards()) {
            try (Connection c = DriverManager.getConnection(ShopConfig.withDatabase(shard.primaryUrl(), "postgres"));
                    PreparedStatement exists = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
                exists.setString(1, shard.name());
                try (ResultSet rs = exists.executeQuery()) {
                    if (rs.next()) {
                        continue;
                    }
                }
                try (Statement s = c.createStatement()) {
                    s.execute("CREATE DATABASE \"" + shard.name().replace("\"", "") + "\"");
                }
                log.info("created database {}", shard.name());
            }
        }
    }

    private static RedisLink openLink(String redisUri) {
        try {
            return RedisLink.open(redisUri);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a loopback port for the link to Redis", e);
        }
    }

    private static RedisRemoteStore remote(String uri, String keyPrefix) {
        return RedisRemoteStore.builder().uri(uri).keyPrefix(keyPrefix).build();
    }

    private static @Nullable StatefulRedisConnection<String, String> connect(
            String uri, List<AutoCloseable> resources) {
        RedisClient client = RedisClient.create(uri);
        // Redis lost later: fail each command at once (the limiter then applies its failure mode)
        // rather than queueing it until Redis is back.
        client.setOptions(ClientOptions.builder()
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(1)))
                .build());
        resources.add(client::shutdown);
        try {
            StatefulRedisConnection<String, String> connection = client.connect();
            resources.add(0, connection);
            return connection;
        } catch (RedisException e) {
            return null;
        }
    }

    private static Handler timed(MeterRegistry registry, String endpoint, Handler handler) {
        Timer timer = Timer.builder("shop.http.requests")
                .description("shop API requests by endpoint")
                .tag("endpoint", endpoint)
                .publishPercentiles(0.5, 0.95, 0.99)
                .register(registry);
        return ctx -> {
            long start = System.nanoTime();
            try {
                handler.handle(ctx);
            } finally {
                timer.record(System.nanoTime() - start, java.util.concurrent.TimeUnit.NANOSECONDS);
            }
        };
    }

    private static void error(io.javalin.http.Context ctx, int status, String message) {
        ctx.status(status).json(Map.of("status", status, "error", message));
    }

    private static long tenantOf(String key) {
        return Long.parseLong(key.substring(0, key.indexOf(':')));
    }

    private static long idOf(String key) {
        return Long.parseLong(key.substring(key.indexOf(':') + 1));
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable resource : resources) {
            try {
                resource.close();
            } catch (Exception e) {
                log.warn("closing {} failed: {}", resource, e.toString());
            }
        }
    }

    /**
     * Jackson refusing what it would otherwise convert silently: 2.7 or "2" for a whole number, a
     * missing or null quantity, trailing data after the object. A changed value would also change an
     * order's idempotency fingerprint behind the client's back.
     */
    static ObjectMapper strictJson() {
        ObjectMapper mapper = JsonMapper.builder()
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
                .build();
        mapper.coercionConfigFor(LogicalType.Integer)
                .setCoercion(CoercionInputShape.String, CoercionAction.Fail)
                .setCoercion(CoercionInputShape.Float, CoercionAction.Fail);
        return mapper;
    }
}
