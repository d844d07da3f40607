package dev.headroom.examples.shop;

import dev.headroom.cache.TieredCache;
import dev.headroom.core.Backoff;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import dev.headroom.resilience.Guard;
import dev.headroom.resilience.GuardRejectedException;
import dev.headroom.resilience.GuardTimeoutException;
import dev.headroom.resilience.RetryBudget;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Recommendations through a {@link Guard}: the {@link RecommendationService} is called with a
 * bulkhead of {@value #MAX_CONCURRENT_CALLS} calls that sheds SHEDDABLE requests once half of it is
 * taken and DEFAULT ones at three quarters (CRITICAL ones get every slot), a {@value #TIMEOUT_MS} ms
 * timeout per attempt, and one retry of a failed attempt while the guard's retry budget allows (a
 * timed-out attempt is not retried: a slow dependency gets no extra load). Every failure or
 * refusal is answered with the tenant's popular products, saying why.
 *
 * <p>Meters: the guard's {@code headroom.resilience.*{guard=recommendations}}, and {@code
 * shop.recommendations{source, reason}} for each answer. Thread-safe.
 */
final class Recommendations implements AutoCloseable {

    static final int MAX_CONCURRENT_CALLS = 8;
    static final long TIMEOUT_MS = 250;
    /** The whole request's deadline; the guard shrinks its timeout to what is left of it. */
    static final Duration DEADLINE = Duration.ofSeconds(1);

    private final RecommendationService service;
    private final TieredCache<String, ProductList> lists;
    private final Guard guard;
    private final MeterRegistry registry;
    private final Map<String, Counter> answers = new ConcurrentHashMap<>();

    Recommendations(RecommendationService service, TieredCache<String, ProductList> lists, MeterRegistry registry) {
        this.service = service;
        this.lists = lists;
        this.registry = registry;
        this.guard = Guard.builder("recommendations")
                .maxConcurrentCalls(MAX_CONCURRENT_CALLS)
                .shedding(0.5, 0.75)
                .timeout(Duration.ofMillis(TIMEOUT_MS))
                .retry(Backoff.builder()
                        .base(Duration.ofMillis(10))
                        .cap(Duration.ofMillis(50))
                        .maxAttempts(2)
                        .build())
                .retryOn(e -> e instanceof RecommendationService.Unavailable)
                .retryBudget(RetryBudget.defaults())
                .noCircuitBreaker() // the bulkhead, timeouts and retry budget bound the harm; see README
                .meterRegistry(registry)
                .build();
    }

    /** The guard, for tests and the dashboard. */
    Guard guard() {
        return guard;
    }

    /**
     * Recommends products for {@code productId} with the given criticality: live when the service
     * answers in time, else the tenant's popular products. Never throws for the service's failures;
     * a catalog failure (the fallback's own source) propagates.
     */
    Recommendation recommend(long tenant, long productId, Criticality criticality) {
        String level = criticality.name().toLowerCase(Locale.ROOT);
        try (RequestContext.Scope ignored = RequestContext.current()
                .withCriticality(criticality)
                .withTimeout(DEADLINE)
                .open()) {
            List<Product> catalog = catalog(tenant);
            List<Long> ids = guard.get(() -> service.recommend(productId, catalog));
            Map<Long, Product> byId = new HashMap<>();
            catalog.forEach(p -> byId.put(p.id(), p));
            List<Product> products = new ArrayList<>(ids.size());
            for (Long id : ids) {
                Product p = byId.get(id);
                if (p != null) {
                    products.add(p);
                }
            }
            count("live", "none");
            return new Recommendation(productId, "live", null, level, products);
        } catch (GuardRejectedException | GuardTimeoutException | RecommendationService.Unavailable e) {
            String reason = reason(e);
            count("fallback", reason);
            return new Recommendation(productId, "fallback", reason, level, popular(tenant, productId));
        }
    }

    private static String reason(RuntimeException e) {
        if (e instanceof GuardRejectedException r) {
            return r.reason().name().toLowerCase(Locale.ROOT);
        }
        return e instanceof GuardTimeoutException ? "timeout" : "failure";
    }

    private List<Product> catalog(long tenant) {
        ProductList list = lists.get(Long.toString(tenant));
        return list == null ? List.of() : list.items();
    }

    /** The tenant's first products stand for "popular": served from the list cache, even its L1. */
    private List<Product> popular(long tenant, long productId) {
        List<Product> popular = new ArrayList<>(RecommendationService.COUNT);
        for (Product p : catalog(tenant)) {
            if (p.id() != productId && popular.size() < RecommendationService.COUNT) {
                popular.add(p);
            }
        }
        return popular;
    }

    private void count(String source, String reason) {
        answers.computeIfAbsent(
                        source + "/" + reason,
                        k -> Counter.builder("shop.recommendations")
                                .description("recommendation answers by source (live, fallback) and fallback reason")
                                .tag("source", source)
                                .tag("reason", reason)
                                .register(registry))
                .increment();
    }

    @Override
    public void close() {
        guard.close();
    }
}
