package dev.headroom.cache.internal;

import dev.headroom.cache.InvalidationBus;
import dev.headroom.core.Ticker;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Makes a cache's L1 entries: the lifetime of a loaded value (TTL less its jitter, then grace), of
 * a value read from L2 (counted from when it was written), of a cached absence ({@code
 * negativeTtl}), and the short lifetime while the invalidation bus is not delivering.
 *
 * @param <V> the value type
 */
public final class Entries<V> {

    private final Ticker ticker;
    private final long ttlNanos;
    private final long graceNanos;
    private final long negativeTtlNanos;
    private final double ttlJitter;
    private final @Nullable RandomGenerator random;
    private final @Nullable InvalidationBus bus;
    private final long l1TtlWhileBusDownNanos;
    private final CacheMetrics metrics;

    @SuppressWarnings("TooManyParameters") // one per lifetime setting of the builder
    public Entries(
            Ticker ticker,
            long ttlNanos,
            long graceNanos,
            long negativeTtlNanos,
            double ttlJitter,
            @Nullable RandomGenerator random,
            @Nullable InvalidationBus bus,
            long l1TtlWhileBusDownNanos,
            CacheMetrics metrics) {
        this.ticker = ticker;
        this.ttlNanos = ttlNanos;
        this.graceNanos = graceNanos;
        this.negativeTtlNanos = negativeTtlNanos;
        this.ttlJitter = ttlJitter;
        this.random = random;
        this.bus = bus;
        this.l1TtlWhileBusDownNanos = l1TtlWhileBusDownNanos;
        this.metrics = metrics;
    }

    /** The entry for a loader's result; null for an absence that is not to be cached. */
    public @Nullable CacheEntry<V> toEntry(Loads.Loaded<V> loaded, long version) {
        if (loaded.value == null) {
            if (negativeTtlNanos <= 0) {
                return null; // nothing cached: the install removes what L1 holds for the key
            }
            long now = ticker.read();
            return new CacheEntry<>(null, now + negativeTtlNanos, now + negativeTtlNanos, loaded.nanos, version);
        }
        return newEntry(loaded.value, loaded.nanos, version);
    }

    /** An entry for a value new now. */
    public CacheEntry<V> newEntry(V value, long loadNanos, long version) {
        return newEntry(value, loadNanos, version, 0);
    }

    /** An entry for a value already {@code ageNanos} old (read from L2): it lives only what is left. */
    public CacheEntry<V> newEntry(V value, long loadNanos, long version, long ageNanos) {
        long now = ticker.read() - ageNanos;
        long ttl = ttlNanos;
        if (ttlJitter > 0) {
            RandomGenerator r = random != null ? random : ThreadLocalRandom.current();
            ttl -= (long) (ttl * ttlJitter * r.nextDouble());
        }
        return new CacheEntry<>(value, now + ttl, now + ttl + graceNanos, loadNanos, version);
    }

    /**
     * The entry itself, or, while the bus is not delivering, a copy that lives at most {@code
     * l1TtlWhileBusDown}: this instance would not hear of an invalidation of it.
     */
    public CacheEntry<V> cappedWhileBusDown(CacheEntry<V> entry) {
        InvalidationBus b = bus;
        if (b == null || b.isDelivering()) {
            return entry;
        }
        long cap = ticker.read() + l1TtlWhileBusDownNanos;
        if (entry.expiresAt() - cap <= 0) {
            return entry;
        }
        metrics.l1Capped.increment();
        return new CacheEntry<>(
                entry.value(),
                entry.freshUntil() - cap < 0 ? entry.freshUntil() : cap,
                cap,
                entry.loadNanos(),
                entry.version());
    }
}
