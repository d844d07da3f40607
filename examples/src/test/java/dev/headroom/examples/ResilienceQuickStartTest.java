package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Backoff;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import dev.headroom.resilience.AdaptiveLimit;
import dev.headroom.resilience.Guard;
import dev.headroom.resilience.GuardRejectedException;
import dev.headroom.resilience.RetryBudget;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The README's resilience quick start, compiled and run so it cannot rot. Keep the two in step. */
class ResilienceQuickStartTest {

    record Quote(String sku, long cents) {
        static Quote cached(String sku) {
            return new Quote(sku, -1);
        }
    }

    /** Stands in for a remote pricing service. */
    static final class PricingClient {
        Quote quote(String sku) {
            return new Quote(sku, 1999);
        }

        CompletableFuture<Quote> quoteAsync(String sku) {
            return CompletableFuture.completedFuture(quote(sku));
        }
    }

    @Test
    void readmeResilienceQuickStartWorks() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        PricingClient pricing = new PricingClient();
        String sku = "sku-42";
        int status = 200;

        // One guard per dependency, built once and shared.
        Guard guard = Guard.builder("pricing")
                .adaptiveLimit(
                        AdaptiveLimit.gradient().initialLimit(20).maxLimit(200).build())
                .timeout(Duration.ofMillis(300)) // shrunk further by a request's deadline
                .retry(Backoff.builder()
                        .base(Duration.ofMillis(20))
                        .maxAttempts(3)
                        .build())
                .retryBudget(RetryBudget.defaults()) // retries ≤ 20% of calls + 10/s, shared by all calls
                .meterRegistry(registry)
                .build();

        try (RequestContext.Scope scope = RequestContext.current()
                .withTimeout(Duration.ofSeconds(1))
                .withCriticality(Criticality.SHEDDABLE) // a recommendation: shed first
                .open()) {
            Quote quote = guard.get(() -> pricing.quote(sku), failure -> Quote.cached(sku));
            CompletableFuture<Quote> later =
                    guard.getAsync(() -> pricing.quoteAsync(sku)).toCompletableFuture();
            try {
                guard.get(() -> pricing.quote(sku));
            } catch (GuardRejectedException e) { // bulkhead full, shed, circuit open, deadline, throttled
                status = 503; // with Retry-After: e.retryAfter()
            }

            assertThat(quote.cents()).isEqualTo(1999);
            assertThat(later.get(5, TimeUnit.SECONDS).sku()).isEqualTo(sku);
        }
        guard.close(); // removes its meters

        assertThat(status).isEqualTo(200);
        assertThat(registry.getMeters()).isEmpty();
    }
}
