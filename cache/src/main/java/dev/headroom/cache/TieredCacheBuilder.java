package dev.headroom.cache;

import dev.headroom.core.Codec;
import dev.headroom.core.Ticker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.function.ToIntBiFunction;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Builds a {@link TieredCache}. Setters validate their argument at once, naming it; {@link
 * #build()} checks the combination. Not thread-safe.
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class TieredCacheBuilder<K, V> {
    final String name;
    /** L2 and bus settings made so far, by method name: refused at build without a remote store. */
    private final Set<String> l2Settings = new LinkedHashSet<>();

    private boolean maximumSizeSet;
    long maximumSize = 10_000;
    long maximumWeight = -1;

    @Nullable
    ToIntBiFunction<? super K, ? super V> weigher;

    Duration ttl = Duration.ofMinutes(5);
    Duration grace = Duration.ZERO;
    Duration negativeTtl = Duration.ZERO;
    Duration refreshRetryDelay = Duration.ofSeconds(1);
    double ttlJitter = 0.1;
    double xfetchBeta = 1.0;

    @Nullable
    Ticker ticker;

    @Nullable
    RandomGenerator random;

    @Nullable
    Executor executor;

    @Nullable
    MeterRegistry meterRegistry;

    @Nullable
    CacheLoader<? super K, ? extends V> loader;

    @Nullable
    AsyncCacheLoader<K, V> asyncLoader;

    @Nullable
    BulkCacheLoader<K, V> bulkLoader;

    @Nullable
    RemoteStore remote;

    @Nullable
    Codec<V> codec;

    Function<? super K, String> keyEncoder = String::valueOf;

    @Nullable
    Function<String, ? extends K> keyDecoder;

    @Nullable
    InvalidationBus bus;

    @Nullable
    Duration l2Ttl;

    Duration l2Timeout = Duration.ofMillis(200);
    Duration breakerOpenFor = Duration.ofSeconds(5);

    @Nullable
    CircuitBreakerConfig breakerConfig;

    int maxL2ValueBytes = 512 * 1024;
    Duration loadTimeout = Duration.ofSeconds(30);
    Duration l1TtlWhileBusDown = Duration.ofSeconds(1);
    Duration leaseTtl = Duration.ofSeconds(5);
    Duration leasePoll = Duration.ofMillis(25);

    TieredCacheBuilder(String name) {
        Objects.requireNonNull(name, "name");
        if (!name.matches("[A-Za-z0-9._-]{1,64}")) {
            throw new IllegalArgumentException(
                    "name must be 1 to 64 characters from [A-Za-z0-9._-] (it is a metric tag), got '" + name + "'");
        }
        this.name = name;
    }

    /**
     * Bounds L1 by entry count. Default 10,000.
     *
     * @param maximumSize at least 1
     * @return this builder
     */
    public TieredCacheBuilder<K, V> maximumSize(long maximumSize) {
        if (maximumSize < 1) {
            throw new IllegalArgumentException("maximumSize must be >= 1, got " + maximumSize);
        }
        if (weigher != null) {
            throw new IllegalStateException("maximumWeight was already set; a cache is bounded by size or by weight");
        }
        this.maximumSizeSet = true;
        this.maximumSize = maximumSize;
        return this;
    }

    /**
     * Bounds L1 by total weight instead of count; a cached absence weighs 1.
     *
     * <p>The weigher runs while the cache holds its per-key lock: it must be quick and must not call
     * back into the cache. If it throws, the value is not cached in L1 (a loaded value is still
     * returned to its readers and logged; {@code put} throws).
     *
     * @param maximumWeight at least 1
     * @param weigher the weight of one entry, non-negative
     * @return this builder
     */
    public TieredCacheBuilder<K, V> maximumWeight(long maximumWeight, ToIntBiFunction<? super K, ? super V> weigher) {
        if (maximumWeight < 1) {
            throw new IllegalArgumentException("maximumWeight must be >= 1, got " + maximumWeight);
        }
        if (maximumSizeSet) {
            throw new IllegalStateException("maximumSize was already set; a cache is bounded by size or by weight");
        }
        this.weigher = Objects.requireNonNull(weigher, "weigher");
        this.maximumWeight = maximumWeight;
        return this;
    }

    /**
     * How long an entry is fresh. Default 5 minutes.
     *
     * @param ttl positive
     * @return this builder
     */
    public TieredCacheBuilder<K, V> ttl(Duration ttl) {
        this.ttl = positive("ttl", ttl);
        return this;
    }

    /**
     * How long after {@code ttl} a stale entry is still served while it refreshes. Default 0 (off).
     *
     * @param grace zero or positive
     * @return this builder
     */
    public TieredCacheBuilder<K, V> staleWhileRevalidate(Duration grace) {
        this.grace = nonNegative("staleWhileRevalidate", grace);
        return this;
    }

    /**
     * After a background refresh (stale-while-revalidate or early refresh) fails, how long reads of
     * that key keep serving the stale value without starting another refresh. Keeps a hot key on a
     * failing source from calling the loader as fast as it fails. Default 1 s.
     *
     * @param delay positive
     * @return this builder
     */
    public TieredCacheBuilder<K, V> refreshRetryDelay(Duration delay) {
        this.refreshRetryDelay = positive("refreshRetryDelay", delay);
        return this;
    }

    /**
     * How long a loader's "no value" (null) is cached. Default 0: not cached.
     *
     * @param negativeTtl zero or positive
     * @return this builder
     */
    public TieredCacheBuilder<K, V> negativeTtl(Duration negativeTtl) {
        this.negativeTtl = nonNegative("negativeTtl", negativeTtl);
        return this;
    }

    /**
     * The largest fraction by which an entry's TTL is randomly shortened. Default 0.1.
     *
     * @param fraction in {@code [0, 1)}
     * @return this builder
     */
    public TieredCacheBuilder<K, V> ttlJitter(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("ttlJitter must be in [0, 1), got " + fraction);
        }
        this.ttlJitter = fraction;
        return this;
    }

    /**
     * XFetch's beta: larger refreshes earlier; 0 turns early refresh off. Default 1.0.
     *
     * @param beta in {@code [0, 100]}
     * @return this builder
     */
    public TieredCacheBuilder<K, V> earlyRefreshBeta(double beta) {
        if (!(beta >= 0 && beta <= 100)) {
            throw new IllegalArgumentException("earlyRefreshBeta must be in [0, 100], got " + beta);
        }
        this.xfetchBeta = beta;
        return this;
    }

    /**
     * The time source, mainly for tests; when set it is also read on every L1 hit. By default load
     * times, lease deadlines and sweeps read {@link Ticker#system()}, while an L1 hit checks the
     * entry's lifetime against a JVM-wide clock that is precise at low read rates and, above about
     * 500,000 reads per second, a sample refreshed every millisecond (one volatile read instead of
     * a {@code nanoTime} call). An entry can then be served up to about a millisecond, plus any CPU
     * starvation of the sampling thread, past its TTL.
     */
    public TieredCacheBuilder<K, V> ticker(Ticker ticker) {
        this.ticker = Objects.requireNonNull(ticker, "ticker");
        return this;
    }

    /** The randomness for jitter and XFetch, mainly for tests. Default {@link ThreadLocalRandom}. */
    public TieredCacheBuilder<K, V> random(RandomGenerator random) {
        this.random = Objects.requireNonNull(random, "random");
        return this;
    }

    /**
     * Where synchronous loaders, refreshes and L1 maintenance run. Default: a cached pool of daemon
     * threads owned by the cache and shut down by {@link TieredCache#close()} — loads are
     * coalesced per key, so it holds at most one thread per key being loaded. (Not the common
     * pool: on a 2-core machine its single worker would be blocked by one JDBC loader.)
     */
    public TieredCacheBuilder<K, V> executor(Executor executor) {
        this.executor = Objects.requireNonNull(executor, "executor");
        return this;
    }

    /** Where metrics go. Default: nowhere. */
    public TieredCacheBuilder<K, V> meterRegistry(MeterRegistry meterRegistry) {
        this.meterRegistry = Objects.requireNonNull(meterRegistry, "meterRegistry");
        return this;
    }

    /** The blocking loader used by {@link TieredCache#get(Object)}. */
    public TieredCacheBuilder<K, V> loader(CacheLoader<? super K, ? extends V> loader) {
        Objects.requireNonNull(loader, "loader");
        if (asyncLoader != null) {
            throw new IllegalStateException("asyncLoader was already set; give a cache one default loader");
        }
        this.loader = loader;
        return this;
    }

    /**
     * The asynchronous loader used by {@link TieredCache#get(Object)}; the alternative to {@link
     * #loader} (setting both is refused).
     */
    @SuppressWarnings("unchecked")
    public TieredCacheBuilder<K, V> asyncLoader(AsyncCacheLoader<? super K, ? extends V> loader) {
        Objects.requireNonNull(loader, "asyncLoader");
        if (this.loader != null) {
            throw new IllegalStateException("loader was already set; give a cache one default loader");
        }
        this.asyncLoader = (AsyncCacheLoader<K, V>) loader;
        return this;
    }

    /**
     * The loader {@link TieredCache#getAll} uses for the keys both tiers miss, in one call. Also
     * serves single-key reads when no other loader is set.
     */
    public TieredCacheBuilder<K, V> bulkLoader(BulkCacheLoader<K, V> bulkLoader) {
        this.bulkLoader = Objects.requireNonNull(bulkLoader, "bulkLoader");
        return this;
    }

    /**
     * Adds a shared L2.
     *
     * @param store the store, such as a {@link dev.headroom.cache.redis.RedisRemoteStore}; closed with the cache
     * @param codec turns values into the store's bytes
     * @return this builder
     */
    public TieredCacheBuilder<K, V> remote(RemoteStore store, Codec<V> codec) {
        this.remote = Objects.requireNonNull(store, "store");
        this.codec = Objects.requireNonNull(codec, "codec");
        return this;
    }

    /**
     * Turns a key into its L2 key: must be stable across processes and injective. Default {@link
     * String#valueOf(Object)}, right for String, Long, UUID and records of those.
     */
    public TieredCacheBuilder<K, V> keyEncoder(Function<? super K, String> keyEncoder) {
        this.keyEncoder = Objects.requireNonNull(keyEncoder, "keyEncoder");
        return this;
    }

    /**
     * Turns an L2 key back into a key, for invalidations received from other instances. Required
     * with an {@link #invalidationBus}; for String keys pass {@code Function.identity()}.
     */
    public TieredCacheBuilder<K, V> keyDecoder(Function<String, ? extends K> keyDecoder) {
        l2Settings.add("keyDecoder");
        this.keyDecoder = Objects.requireNonNull(keyDecoder, "keyDecoder");
        return this;
    }

    /**
     * Drops other instances' L1 copies when this one invalidates or puts a key, and flushes this
     * instance's L1 when messages may have been lost. Needs {@link #remote} (versions come from
     * L2) and {@link #keyDecoder}. The bus is closed with the cache.
     */
    public TieredCacheBuilder<K, V> invalidationBus(InvalidationBus bus) {
        this.bus = Objects.requireNonNull(bus, "invalidationBus");
        return this;
    }

    /**
     * While the {@link #invalidationBus} is not delivering (its connection dropped, Redis stopped
     * answering its pings), what this instance puts in L1 lives at most this long, fresh or stale:
     * it cannot hear of other instances' invalidations meanwhile, so this bounds how long it can
     * serve a value another instance replaced. Default 1 s.
     */
    public TieredCacheBuilder<K, V> l1TtlWhileBusDown(Duration ttl) {
        l2Settings.add("l1TtlWhileBusDown");
        this.l1TtlWhileBusDown = positive("l1TtlWhileBusDown", ttl);
        return this;
    }

    /** How long L2 keeps a value. Default {@code ttl + staleWhileRevalidate}. */
    public TieredCacheBuilder<K, V> l2Ttl(Duration l2Ttl) {
        this.l2Ttl = positive("l2Ttl", l2Ttl);
        return this;
    }

    /** The bound on every L2 call. Default 200 ms. */
    public TieredCacheBuilder<K, V> l2Timeout(Duration l2Timeout) {
        l2Settings.add("l2Timeout");
        this.l2Timeout = positive("l2Timeout", l2Timeout);
        return this;
    }

    /** How long the L2 breaker stays open before probing. Default 5 s. */
    public TieredCacheBuilder<K, V> l2BreakerOpenFor(Duration openFor) {
        if (breakerConfig != null) {
            throw new IllegalStateException("l2Breaker was already set; its config says how long it stays open");
        }
        l2Settings.add("l2BreakerOpenFor");
        this.breakerOpenFor = positive("l2BreakerOpenFor", openFor);
        return this;
    }

    /**
     * The L2 circuit breaker's whole Resilience4j configuration (window, failure rate, slow calls,
     * time open, probes), instead of the default: a count window of 20 calls, open at 50% failures
     * once 5 were made, open for {@link #l2BreakerOpenFor} (5 s), 2 probes. Reads go through it;
     * writes (put, invalidate, clear) are tried even while it is open.
     */
    public TieredCacheBuilder<K, V> l2Breaker(CircuitBreakerConfig config) {
        l2Settings.add("l2Breaker");
        Objects.requireNonNull(config, "l2Breaker");
        if (l2Settings.contains("l2BreakerOpenFor")) {
            throw new IllegalStateException("l2BreakerOpenFor was already set; set the time open in the config");
        }
        this.breakerConfig = config;
        return this;
    }

    /** Values whose encoding is larger stay in L1 only (counted). Default 512 KiB. */
    public TieredCacheBuilder<K, V> maxL2ValueBytes(int bytes) {
        l2Settings.add("maxL2ValueBytes");
        if (bytes < 1) {
            throw new IllegalArgumentException("maxL2ValueBytes must be >= 1, got " + bytes);
        }
        this.maxL2ValueBytes = bytes;
        return this;
    }

    /**
     * Cluster-wide coalescing: on an L2 miss, an instance takes a lease on the key for this long
     * and loads; the others poll L2 for its value and load themselves only if the lease time
     * passes without one (a holder that fails releases the lease early; one that dies frees it
     * when it expires). {@link Duration#ZERO} turns it off (then each process loads once).
     * Default 5 s; keep it above the loader's usual time: a load of a key Redis did not have writes
     * its value back only while it still holds the lease (the lease is the load's fence if the
     * record of a write made meanwhile is evicted), so a load that outlives it is not shared.
     *
     * @param leaseTtl zero or positive
     * @return this builder
     */
    public TieredCacheBuilder<K, V> l2LoadLease(Duration leaseTtl) {
        l2Settings.add("l2LoadLease");
        this.leaseTtl = nonNegative("l2LoadLease", leaseTtl);
        return this;
    }

    /** How often waiters poll L2 for the lease holder's value. Default 25 ms. */
    public TieredCacheBuilder<K, V> l2LeasePollInterval(Duration interval) {
        l2Settings.add("l2LeasePollInterval");
        this.leasePoll = positive("l2LeasePollInterval", interval);
        return this;
    }

    /** How long synchronous reads wait for a load before {@link CacheLoadException}. Default 30 s. */
    public TieredCacheBuilder<K, V> loadTimeout(Duration loadTimeout) {
        this.loadTimeout = positive("loadTimeout", loadTimeout);
        return this;
    }

    /**
     * Builds the cache.
     *
     * @return the cache
     */
    public TieredCache<K, V> build() {
        if (remote == null && l2Ttl != null) {
            throw new IllegalStateException("l2Ttl is set but no remote store is: call remote(store, codec)");
        }
        if (remote == null && !l2Settings.isEmpty()) {
            throw new IllegalStateException(String.join(", ", l2Settings)
                    + (l2Settings.size() == 1 ? " is" : " are")
                    + " set but no remote store is: they configure L2 (call remote(store, codec)) or drop them");
        }
        if (bus == null && l2Settings.contains("l1TtlWhileBusDown")) {
            throw new IllegalStateException(
                    "l1TtlWhileBusDown is set but no invalidationBus is: it bounds L1 while the bus is down");
        }
        if (bus != null && remote == null) {
            throw new IllegalStateException("invalidationBus needs a remote store (its versions order"
                    + " invalidations): call remote(store, codec)");
        }
        if (bus != null && keyDecoder == null) {
            throw new IllegalStateException("invalidationBus needs keyDecoder to map received keys back"
                    + " to cache keys (Function.identity() for String keys)");
        }
        return new TieredCache<>(this);
    }

    /** Longest duration taken: sums of them are kept in nanoseconds, which overflow at ~292 years. */
    static final Duration MAX_DURATION = Duration.ofDays(3650);

    private static Duration positive(String field, Duration value) {
        Objects.requireNonNull(value, field);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(field + " must be positive, got " + value);
        }
        return atMostMax(field, value);
    }

    private static Duration nonNegative(String field, Duration value) {
        Objects.requireNonNull(value, field);
        if (value.isNegative()) {
            throw new IllegalArgumentException(field + " must not be negative, got " + value);
        }
        return atMostMax(field, value);
    }

    private static Duration atMostMax(String field, Duration value) {
        if (value.compareTo(MAX_DURATION) > 0) {
            throw new IllegalArgumentException(field + " must be at most 3650 days, got " + value);
        }
        return value;
    }
}
