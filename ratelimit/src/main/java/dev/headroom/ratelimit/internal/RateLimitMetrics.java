package dev.headroom.ratelimit.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The meters of one limiter, tagged {@code limiter} (its name) and nothing per key: {@code
 * headroom.ratelimit.decisions{result=allowed|rejected, source=store|fallback}}, {@code
 * headroom.ratelimit.store.errors}, and the gauges each limiter adds. Not API.
 */
public final class RateLimitMetrics implements AutoCloseable {
    private final MeterRegistry registry;
    private final String limiter;
    private final List<Meter> meters = new ArrayList<>();
    private final Counter allowed;
    private final Counter rejected;
    private final Counter fallbackAllowed;
    private final Counter fallbackRejected;
    private final Counter storeErrors;

    public RateLimitMetrics(MeterRegistry registry, String limiter) {
        this.registry = registry;
        this.limiter = limiter;
        this.allowed = counter("headroom.ratelimit.decisions", "result", "allowed", "source", "store");
        this.rejected = counter("headroom.ratelimit.decisions", "result", "rejected", "source", "store");
        this.fallbackAllowed = counter("headroom.ratelimit.decisions", "result", "allowed", "source", "fallback");
        this.fallbackRejected = counter("headroom.ratelimit.decisions", "result", "rejected", "source", "fallback");
        this.storeErrors = counter("headroom.ratelimit.store.errors");
    }

    private Counter counter(String name, String... tags) {
        Counter c = Counter.builder(name).tag("limiter", limiter).tags(tags).register(registry);
        meters.add(c);
        return c;
    }

    /** Counts a decision. */
    public void decided(boolean wasAllowed, boolean fallback) {
        if (fallback) {
            (wasAllowed ? fallbackAllowed : fallbackRejected).increment();
        } else {
            (wasAllowed ? allowed : rejected).increment();
        }
    }

    /** Counts a store call that failed (timeout, connection, script error). */
    public void storeError() {
        storeErrors.increment();
    }

    /** Registers a gauge tagged with the limiter. */
    public void gauge(String name, Supplier<Number> value) {
        meters.add(io.micrometer.core.instrument.Gauge.builder(name, value)
                .tag("limiter", limiter)
                .register(registry));
    }

    @Override
    public void close() {
        for (Meter m : meters) {
            registry.remove(m);
        }
    }
}
