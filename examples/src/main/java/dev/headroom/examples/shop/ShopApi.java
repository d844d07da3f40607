package dev.headroom.examples.shop;

import dev.headroom.cache.TieredCache;
import dev.headroom.core.ConsistencyToken;
import dev.headroom.core.Criticality;
import dev.headroom.db.RoutingDataSource;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.RateLimitHeaders;
import dev.headroom.ratelimit.RateLimiter;
import io.javalin.http.Context;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The shop's public endpoints: products (through the caches), orders (idempotent, read-your-writes)
 * and the rate limit in front of them. Input is checked here; a bad request gets a 4xx saying what
 * is wrong. Thread-safe.
 */
final class ShopApi {
    /** A whole number in ASCII digits, at most 19 of them. */
    static final Pattern WHOLE_NUMBER = Pattern.compile("[0-9]{1,19}");

    /** Carries the consistency token of the caller's last write. */
    static final String TOKEN_HEADER = "Consistency-Token";

    static final String TOKEN_COOKIE = "consistency-token";

    private static final Pattern IDEMPOTENCY_KEY = Pattern.compile("[\\x21-\\x7E]{1,64}");
    private static final RateLimitHeaders HEADERS = RateLimitHeaders.standard();
    private static final String ORDERS_NEED_A_KEY =
            "orders need an Api-Key: an order belongs to the key that placed it";

    private final TieredCache<String, Product> products;
    private final TieredCache<String, ProductList> lists;
    private final Orders orders;
    private final ShopShards shards;
    private final RateLimiter limiter;
    private final Recommendations recommendations;
    private final Map<String, Criticality> apiKeys;

    ShopApi(
            TieredCache<String, Product> products,
            TieredCache<String, ProductList> lists,
            Orders orders,
            ShopShards shards,
            RateLimiter limiter,
            Recommendations recommendations,
            Map<String, Criticality> apiKeys) {
        this.products = products;
        this.lists = lists;
        this.orders = orders;
        this.shards = shards;
        this.limiter = limiter;
        this.recommendations = recommendations;
        this.apiKeys = Map.copyOf(apiKeys);
    }

    /** Whether a path is one of the rate-limited shop endpoints. */
    static boolean isLimited(String path) {
        return path.startsWith("/products") || path.startsWith("/orders");
    }

    /**
     * One decision per request: per issued API key ({@code Api-Key} header) or, for anything else,
     * per IP on the lower anonymous tier. Sets {@code RateLimit-Policy}, {@code RateLimit} and, when
     * refused, {@code Retry-After}; refuses with 429. Only then is the request's identity judged: a
     * malformed key is a 400, a key the shop did not issue a 401 (so minting or garbling keys buys
     * nothing and costs the anonymous quota), an order request without a key a 401, and HEAD a 405
     * (the shop answers GET only; HEAD would skip these checks' handlers).
     */
    void rateLimit(Context ctx) {
        String apiKey = ctx.header("Api-Key");
        boolean issued = apiKey != null && apiKeys.containsKey(apiKey); // issued keys are well-formed
        String key = issued ? "key:" + apiKey : "anon:" + ctx.req().getRemoteAddr();
        Decision decision = limiter.tryAcquire(key);
        HEADERS.render(decision).forEach(ctx::header);
        if (!decision.allowed()) {
            throw new ApiError(
                    429,
                    (issued ? "rate limit of this API key" : "anonymous rate limit (send an Api-Key for more)")
                            + " exceeded; retry after " + ctx.res().getHeader("Retry-After") + " s");
        }
        if (apiKey != null && !issued) {
            if (!ShopConfig.API_KEY.matcher(apiKey).matches()) {
                throw new ApiError(400, "Api-Key must be " + ShopConfig.API_KEY_RULE);
            }
            throw new ApiError(401, "unknown Api-Key: this shop did not issue it (see SHOP_API_KEYS)");
        }
        if ("HEAD".equals(ctx.req().getMethod())) {
            ctx.header("Allow", "/orders".equals(ctx.path()) ? "POST" : "GET");
            throw new ApiError(405, "HEAD is not served here: send GET");
        }
        if (apiKey == null && ctx.path().startsWith("/orders")) {
            throw new ApiError(401, ORDERS_NEED_A_KEY);
        }
    }

    /** {@code GET /products/{id}}: L1, then Redis, then one replica read per key at a time. */
    void product(Context ctx) {
        long tenant = tenant(ctx);
        long id = positive(ctx.pathParam("id"), "product id");
        Product product = products.get(tenant + ":" + id);
        if (product == null) {
            throw new ApiError(404, "tenant " + tenant + " has no product " + id);
        }
        ctx.json(product);
    }

    /**
     * {@code GET /products/{id}/recommendations}: from the guarded recommendation service, or the
     * tenant's popular products when it fails or is refused ({@code source} and {@code reason} say
     * which). Criticality: an anonymous caller is always SHEDDABLE; a caller with an {@code Api-Key}
     * is DEFAULT, or what its {@code X-Criticality} header says ({@code critical}, {@code default},
     * {@code sheddable}) up to what its key was issued with: a claim above that is refused (403).
     */
    void recommendations(Context ctx) {
        long tenant = tenant(ctx);
        long id = positive(ctx.pathParam("id"), "product id");
        ctx.json(recommendations.recommend(tenant, id, criticality(ctx)));
    }

    private Criticality criticality(Context ctx) {
        String apiKey = ctx.header("Api-Key");
        Criticality granted = apiKey == null ? null : apiKeys.get(apiKey);
        if (granted == null) {
            return Criticality.SHEDDABLE; // anonymous (rateLimit refused keys it did not issue)
        }
        String header = ctx.header("X-Criticality");
        if (header == null) {
            // DEFAULT, or less for a key issued for background work
            return granted.compareTo(Criticality.DEFAULT) > 0 ? granted : Criticality.DEFAULT;
        }
        Criticality claimed = ShopConfig.criticalityNamed(header);
        if (claimed == null) {
            throw new ApiError(
                    400, "X-Criticality must be critical, default or sheddable, got '" + abbreviate(header) + "'");
        }
        if (claimed.compareTo(granted) < 0) {
            throw new ApiError(
                    403,
                    "this API key may claim X-Criticality " + granted.name().toLowerCase(Locale.ROOT) + " at most, not "
                            + claimed.name().toLowerCase(Locale.ROOT));
        }
        return claimed;
    }

    /** The issued API key of a request that must have one: orders belong to the key that placed them. */
    private String owner(Context ctx) {
        String apiKey = ctx.header("Api-Key");
        if (apiKey == null) {
            throw new ApiError(401, ORDERS_NEED_A_KEY);
        }
        return apiKey; // rateLimit refused malformed keys, keys the shop did not issue and none
    }

    /** {@code GET /products}: the first page of the tenant's catalog, cached as one value. */
    void list(Context ctx) {
        long tenant = tenant(ctx);
        ProductList list = lists.get(Long.toString(tenant));
        ctx.json(list == null ? new ProductList(tenant, java.util.List.of()) : list);
    }

    /**
     * {@code POST /orders} with {@code Idempotency-Key}: 201 and the order the first time, 200 and
     * the same order for a repeat by the same API key (another key's equal idempotency key is its
     * own); the response carries the consistency token of the write.
     */
    void placeOrder(Context ctx) throws Exception {
        String owner = owner(ctx);
        long tenant = tenant(ctx);
        String key = ctx.header("Idempotency-Key");
        if (key == null || key.isEmpty()) {
            throw new ApiError(400, "the Idempotency-Key header is required (1-64 printable ASCII characters)");
        }
        if (!IDEMPOTENCY_KEY.matcher(key).matches()) {
            throw new ApiError(
                    400,
                    "Idempotency-Key must be 1-64 printable ASCII characters without spaces, got " + key.length()
                            + " characters");
        }
        OrderRequest request = body(ctx);
        if (request.productId() < 1) {
            throw new ApiError(400, "productId must be a positive number");
        }
        if (request.quantity() < 1 || request.quantity() > 100) {
            throw new ApiError(400, "quantity must be 1..100, got " + request.quantity());
        }
        Product product = products.get(tenant + ":" + request.productId());
        if (product == null) {
            throw new ApiError(422, "tenant " + tenant + " has no product " + request.productId());
        }
        Orders.Placed placed;
        try {
            placed = orders.place(tenant, owner, key, request, product);
        } catch (Orders.KeyReused e) {
            throw new ApiError(422, String.valueOf(e.getMessage()));
        }
        String token = placed.token().toString();
        ctx.header(TOKEN_HEADER, token);
        ctx.cookie(TOKEN_COOKIE, token);
        ctx.status(placed.created() ? 201 : 200).json(placed.order());
    }

    /**
     * {@code GET /orders/{id}}: from a replica that has replayed the caller's last write (token from
     * the {@code Consistency-Token} header or cookie), else from the primary after a short wait. Only
     * the API key that placed the order sees it; any other gets the 404 of an order that does not
     * exist.
     */
    void order(Context ctx) throws Exception {
        String owner = owner(ctx);
        long tenant = tenant(ctx);
        long id = positive(ctx.pathParam("id"), "order id");
        RoutingDataSource router = shards.forTenant(tenant).router();
        // the header wins when it parses; a blank or malformed one must not hide a good cookie
        Optional<ConsistencyToken> token =
                router.token(ctx.header(TOKEN_HEADER)).or(() -> router.token(ctx.cookie(TOKEN_COOKIE)));
        Order order = orders.find(tenant, owner, id, token)
                .orElseThrow(() -> new ApiError(404, "tenant " + tenant + " has no order " + id));
        ctx.json(order);
    }

    private static OrderRequest body(Context ctx) {
        try {
            return ctx.bodyAsClass(OrderRequest.class);
        } catch (Exception e) { // Jackson's checked exceptions arrive undeclared through Kotlin
            throw new ApiError(
                    400,
                    "the body must be JSON like {\"productId\": 42, \"quantity\": 2}: " + firstLine(e.getMessage()));
        }
    }

    /** The {@code Tenant-Id} header; tenant 1 when absent. */
    private static long tenant(Context ctx) {
        String header = ctx.header("Tenant-Id");
        return header == null ? 1 : positive(header, "Tenant-Id");
    }

    private static long positive(String value, String what) {
        // ASCII digits only: Long.parseLong also takes '+' and any script's digits ("١٠" is 10)
        if (WHOLE_NUMBER.matcher(value).matches()) {
            try {
                long n = Long.parseLong(value);
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // above Long.MAX_VALUE: answered below
            }
        }
        throw new ApiError(400, what + " must be a positive whole number, got '" + abbreviate(value) + "'");
    }

    private static String abbreviate(String value) {
        return value.length() <= 32 ? value : value.substring(0, 32) + "...";
    }

    private static String firstLine(@Nullable String message) {
        if (message == null) {
            return "unreadable";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
