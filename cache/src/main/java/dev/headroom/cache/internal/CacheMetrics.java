package dev.headroom.cache.internal;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * The cache's counters. Hot-path counts are {@link LongAdder}s exposed as function counters, so a
 * hit costs one uncontended add whether or not a registry is present.
 */
public final class CacheMetrics {
    public final LongAdder l1Hits = new LongAdder();
    public final LongAdder l1Misses = new LongAdder();
    public final LongAdder l2Hits = new LongAdder();
    public final LongAdder l2Misses = new LongAdder();
    public final LongAdder negativeHits = new LongAdder();
    public final LongAdder staleServed = new LongAdder();
    public final LongAdder coalescedWaits = new LongAdder();
    public final LongAdder clusterWaits = new LongAdder();
    public final LongAdder clusterFills = new LongAdder();
    public final LongAdder leaseTimeouts = new LongAdder();
    public final LongAdder loadSuccesses = new LongAdder();
    public final LongAdder loadFailures = new LongAdder();
    public final LongAdder loadNulls = new LongAdder();
    public final LongAdder loadsAbandoned = new LongAdder();
    public final LongAdder refreshSuccesses = new LongAdder();
    public final LongAdder refreshFailures = new LongAdder();
    public final LongAdder earlyRefreshes = new LongAdder();
    public final LongAdder evictions = new LongAdder();
    public final LongAdder expirations = new LongAdder();
    public final LongAdder l2Errors = new LongAdder();
    public final LongAdder l2Rejected = new LongAdder();
    public final LongAdder l2Corrupt = new LongAdder();
    public final LongAdder l2Oversize = new LongAdder();
    public final LongAdder l2FencedWrites = new LongAdder();
    public final LongAdder l2Superseded = new LongAdder();
    public final LongAdder l1Flushes = new LongAdder();
    public final LongAdder invalidationsSent = new LongAdder();
    public final LongAdder l2Repairs = new LongAdder();
    public final LongAdder invalidationsReceived = new LongAdder();
    public final LongAdder invalidationsIgnored = new LongAdder();
    public final LongAdder l1Capped = new LongAdder();
    private final Timer loadTimer;
    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();

    public CacheMetrics(
            String cacheName,
            MeterRegistry registry,
            Supplier<String> breakerState,
            IntSupplier pendingRepairs,
            @Nullable BooleanSupplier busDelivering) {
        String name = "cache";
        this.registry = registry;
        if (registry.find("headroom.cache.gets").tag("cache", cacheName).meter() != null) {
            // Micrometer would hand back the first cache's meters and this cache's counts would be lost.
            throw new IllegalStateException("a cache named '" + cacheName
                    + "' already publishes metrics to this MeterRegistry; give each cache a unique name");
        }
        gets(registry, cacheName, "l1", "hit", l1Hits);
        gets(registry, cacheName, "l1", "miss", l1Misses);
        gets(registry, cacheName, "l1", "negative", negativeHits);
        gets(registry, cacheName, "l1", "stale", staleServed);
        gets(registry, cacheName, "l2", "hit", l2Hits);
        gets(registry, cacheName, "l2", "miss", l2Misses);
        counter(registry, "headroom.cache.coalesced.waits", cacheName, coalescedWaits, "scope", "process");
        counter(registry, "headroom.cache.coalesced.waits", cacheName, clusterWaits, "scope", "cluster");
        counter(registry, "headroom.cache.lease.outcomes", cacheName, clusterFills, "result", "filled_by_holder");
        counter(registry, "headroom.cache.lease.outcomes", cacheName, leaseTimeouts, "result", "waited_out");
        counter(registry, "headroom.cache.loads", cacheName, loadSuccesses, "result", "success");
        counter(registry, "headroom.cache.loads", cacheName, loadFailures, "result", "failure");
        counter(registry, "headroom.cache.loads", cacheName, loadNulls, "result", "absent");
        counter(registry, "headroom.cache.loads", cacheName, loadsAbandoned, "result", "abandoned");
        counter(registry, "headroom.cache.refreshes", cacheName, refreshSuccesses, "result", "success");
        counter(registry, "headroom.cache.refreshes", cacheName, refreshFailures, "result", "failure");
        counter(registry, "headroom.cache.refreshes.early", cacheName, earlyRefreshes, "result", "started");
        counter(registry, "headroom.cache.evictions", cacheName, evictions, "cause", "size");
        counter(registry, "headroom.cache.evictions", cacheName, expirations, "cause", "expired");
        counter(registry, "headroom.cache.l2.errors", cacheName, l2Errors, "kind", "failure");
        counter(registry, "headroom.cache.l2.errors", cacheName, l2Rejected, "kind", "breaker_open");
        counter(registry, "headroom.cache.l2.errors", cacheName, l2Corrupt, "kind", "corrupt");
        counter(registry, "headroom.cache.l2.skipped", cacheName, l2Oversize, "reason", "oversize");
        counter(registry, "headroom.cache.l2.skipped", cacheName, l2FencedWrites, "reason", "fenced");
        counter(registry, "headroom.cache.l2.skipped", cacheName, l2Superseded, "reason", "superseded");
        counter(registry, "headroom.cache.l1.flushes", cacheName, l1Flushes, "reason", "all");
        counter(registry, "headroom.cache.invalidations", cacheName, invalidationsSent, "direction", "sent");
        counter(registry, "headroom.cache.invalidations", cacheName, invalidationsReceived, "direction", "received");
        counter(
                registry,
                "headroom.cache.invalidations",
                cacheName,
                invalidationsIgnored,
                "direction",
                "ignored_older");
        counter(registry, "headroom.cache.l2.repairs", cacheName, l2Repairs, "result", "applied");
        counter(registry, "headroom.cache.l1.capped", cacheName, l1Capped, "reason", "bus_down");
        if (busDelivering != null) {
            meters.add(Gauge.builder("headroom.cache.bus.delivering", busDelivering, d -> d.getAsBoolean() ? 1 : 0)
                    .description("1 while other instances' invalidations reach this one; at 0 L1 entries"
                            + " live at most l1TtlWhileBusDown")
                    .strongReference(true)
                    .tag(name, cacheName)
                    .register(registry));
        }
        meters.add(Gauge.builder("headroom.cache.l2.repairs.pending", pendingRepairs, IntSupplier::getAsInt)
                .description("invalidations not yet applied to L2 (keys, plus 1 for a pending clear);"
                        + " their L2 values are bypassed until they are")
                .strongReference(true)
                .tag(name, cacheName)
                .register(registry));
        meters.add(Gauge.builder("headroom.cache.l2.breaker.state", breakerState, s -> "CLOSED".equals(s.get()) ? 0 : 1)
                .description("1 while the L2 circuit breaker is not closed (L2 calls skipped or probing)")
                .strongReference(true)
                .tag(name, cacheName)
                .register(registry));
        this.loadTimer = Timer.builder("headroom.cache.load.duration")
                .description("time spent in the loader, successful or not")
                .tag(name, cacheName)
                .register(registry);
        meters.add(loadTimer);
    }

    /** Metrics that go nowhere, for a cache built without a registry. */
    public static CacheMetrics unregistered(String cacheName) {
        return new CacheMetrics(cacheName, new CompositeMeterRegistry(), () -> "CLOSED", () -> 0, null);
    }

    /** Removes this cache's meters, so a cache of the same name can be built again. */
    public synchronized void close() {
        for (Meter meter : meters) {
            registry.remove(meter);
        }
        meters.clear();
    }

    public void recordLoad(long nanos) {
        loadTimer.record(nanos, TimeUnit.NANOSECONDS);
    }

    private void gets(MeterRegistry registry, String cacheName, String tier, String result, LongAdder adder) {
        meters.add(FunctionCounter.builder("headroom.cache.gets", adder, LongAdder::sum)
                .description("cache reads by the tier that answered and the result")
                .tag("cache", cacheName)
                .tag("tier", tier)
                .tag("result", result)
                .register(registry));
    }

    private void counter(
            MeterRegistry registry, String meter, String cacheName, LongAdder adder, String tag, String value) {
        meters.add(FunctionCounter.builder(meter, adder, LongAdder::sum)
                .tag("cache", cacheName)
                .tag(tag, value)
                .register(registry));
    }
}
