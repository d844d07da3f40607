package dev.headroom.cache;

import dev.headroom.cache.internal.BulkLoads;
import dev.headroom.cache.internal.CacheEntry;
import dev.headroom.cache.internal.CacheMetrics;
import dev.headroom.cache.internal.CoarseClock;
import dev.headroom.cache.internal.Entries;
import dev.headroom.cache.internal.GuardedRemoteStore;
import dev.headroom.cache.internal.InFlightLoads;
import dev.headroom.cache.internal.Invalidations;
import dev.headroom.cache.internal.L1Reads;
import dev.headroom.cache.internal.L1Tier;
import dev.headroom.cache.internal.L2Repairs;
import dev.headroom.cache.internal.L2Tier;
import dev.headroom.cache.internal.L2Trust;
import dev.headroom.cache.internal.L2Values;
import dev.headroom.cache.internal.Loads;
import dev.headroom.cache.internal.Puts;
import dev.headroom.cache.internal.ReadThrough;
import dev.headroom.cache.internal.RefreshSlots;
import dev.headroom.cache.internal.Refreshes;
import dev.headroom.cache.internal.Sweeper;
import dev.headroom.core.Ticker;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A two-tier cache: a Caffeine L1 in this process over an optional shared L2 {@link RemoteStore}.
 *
 * <p>A read is answered by the first tier that has a usable value: a fresh L1 entry; a stale L1
 * entry within the grace window (returned at once while one background refresh runs); the L2; the
 * loader. What is promised:
 *
 * <ul>
 *   <li><b>Coalescing:</b> at most one load per key runs in this process at a time; concurrent
 *       misses on a key wait for that one load.
 *   <li><b>No wedged keys:</b> a load that has not finished after {@code loadTimeout} is abandoned:
 *       its waiters fail with {@link CacheLoadException}, the next read starts a new load, and the
 *       abandoned load installs nothing if it ever finishes ({@code loads{result=abandoned}}).
 *   <li><b>Stale-while-revalidate:</b> after {@code ttl} and until {@code ttl + grace}, reads return
 *       the stale value without waiting and trigger exactly one refresh per key; a failing refresh
 *       leaves the stale value in place until grace ends (counted as {@code refreshes{result=failure}}).
 *   <li><b>Early refresh (XFetch):</b> shortly before {@code ttl}, a read refreshes the entry with a
 *       probability that rises as expiry nears and with the cost of the last load (Vattani et al.,
 *       "Optimal Probabilistic Cache Stampede Prevention"), so hot keys rarely expire at all.
 *   <li><b>TTL jitter:</b> each entry's TTL is shortened by a random fraction (default up to 10%) so
 *       keys warmed together do not expire together.
 *   <li><b>Negative caching:</b> a loader returning null makes {@code get} return null; that absence
 *       is cached for {@code negativeTtl} (default 0: not cached, the next read loads again).
 *   <li><b>Fenced L2 writes:</b> the L2 key's version is read before loading and the loaded value is
 *       written only if the version is unchanged, so a load that began before an invalidation never
 *       installs its older value in L2.
 *   <li><b>L2 failure is never the caller's failure:</b> every L2 call is bounded by {@code
 *       l2Timeout}; a circuit breaker stops calling a failing L2 and probes it again later; corrupt
 *       L2 bytes count as a miss and are overwritten by the next load. Only the loader's own failure
 *       reaches the caller, as {@link CacheLoadException}.
 * </ul>
 *
 * <p>Metrics, all tagged {@code cache=<name>}: {@code headroom.cache.gets{tier,result}}, {@code
 * headroom.cache.loads{result=success|failure|absent|abandoned}}, {@code headroom.cache.load.duration}, {@code
 * headroom.cache.coalesced.waits}, {@code headroom.cache.refreshes{result}}, {@code
 * headroom.cache.refreshes.early}, {@code headroom.cache.evictions}, {@code
 * headroom.cache.l2.errors{kind}}, {@code headroom.cache.l2.skipped{reason=oversize|fenced|superseded}}, {@code
 * headroom.cache.l2.breaker.state}, {@code headroom.cache.l2.repairs{result}}, {@code
 * headroom.cache.l2.repairs.pending}, {@code headroom.cache.invalidations{direction}}, {@code
 * headroom.cache.lease.outcomes{result}}, {@code headroom.cache.l1.flushes}.
 *
 * <p>Thread-safe. Closing releases the L2 store.
 *
 * @param <K> the key type; keys need stable {@code equals}/{@code hashCode}, and with an L2 a stable,
 *     injective {@linkplain TieredCacheBuilder#keyEncoder string form}
 * @param <V> the value type; values must be treated as immutable once cached
 */
public final class TieredCache<K, V> implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(TieredCache.class);
    private static final Object MISS = L1Reads.MISS;
    /** Keys whose L2 invalidation is retried one by one; beyond them, all of the cache's L2 keys are cleared. */
    static final int MAX_PENDING_REPAIRS = 100_000;

    private static final long REPAIR_PERIOD_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final String name;
    private final Ticker ticker;
    private final Executor executor;
    private final @Nullable ExecutorService ownedExecutor;
    private final @Nullable AsyncCacheLoader<K, V> defaultLoader;
    private final CacheMetrics metrics;
    /** Loader calls and waits for loads. */
    private final Loads<K, V> loads;

    private final L1Tier<K, V> l1;
    private final L1Reads<K, V> reads;
    private final InFlightLoads<K, V> inFlight;
    private final ReadThrough<K, V> readThrough;
    private final Invalidations<K, V> invalidations;
    private final Puts<K, V> puts;
    private final @Nullable BulkLoads<K, V> bulkLoads;
    /** Null without L2. */
    private final @Nullable L2Tier<K, V> l2;

    private final @Nullable InvalidationBus bus;
    private final RefreshSlots<K> refreshSlots;
    private final L2Trust trust;
    private final ScheduledFuture<?> sweep;
    private final @Nullable ScheduledFuture<?> repairTask;

    TieredCache(TieredCacheBuilder<K, V> b) {
        this.name = b.name;
        this.ticker = b.ticker != null ? b.ticker : Ticker.system();
        Ticker hitClock = b.ticker != null ? b.ticker : CoarseClock.shared();
        long ttlNanos = b.ttl.toNanos();
        long graceNanos = b.grace.toNanos();
        long negativeTtlNanos = b.negativeTtl.toNanos();
        this.refreshSlots = new RefreshSlots<>(ticker, b.refreshRetryDelay.toNanos(), b.xfetchBeta, b.random);
        this.ownedExecutor = b.executor == null ? Loads.newLoaderPool(name) : null;
        this.executor = b.executor != null ? b.executor : Objects.requireNonNull(ownedExecutor);
        this.bus = b.bus;
        Duration l2Ttl = b.l2Ttl != null ? b.l2Ttl : b.ttl.plus(b.grace);
        CircuitBreaker breaker = b.remote == null
                ? null
                : GuardedRemoteStore.newBreaker(
                        name,
                        b.breakerConfig != null ? b.breakerConfig : GuardedRemoteStore.defaultConfig(b.breakerOpenFor));
        L2Repairs repairs = b.remote == null ? null : new L2Repairs(MAX_PENDING_REPAIRS);
        this.trust = new L2Trust(ticker, l2Ttl.toNanos(), MAX_PENDING_REPAIRS, repairs);
        this.metrics = b.meterRegistry == null
                ? CacheMetrics.unregistered(name)
                : new CacheMetrics(
                        name,
                        b.meterRegistry,
                        () -> breaker == null ? "CLOSED" : breaker.getState().name(),
                        () -> repairs == null ? 0 : repairs.pending(),
                        b.bus == null ? null : b.bus::isDelivering);
        this.loads = new Loads<>(name, executor, ticker, metrics, b.loadTimeout.toNanos());
        Entries<V> entries = new Entries<>(
                ticker,
                ttlNanos,
                graceNanos,
                negativeTtlNanos,
                b.ttlJitter,
                b.random,
                b.bus,
                b.l1TtlWhileBusDown.toNanos(),
                metrics);
        this.l2 = b.remote == null
                ? null
                : new L2Tier<>(
                        new GuardedRemoteStore(b.remote, b.l2Timeout, Objects.requireNonNull(breaker), metrics),
                        nonEmptyKeys(name, b.keyEncoder),
                        new L2Values<>(
                                name, b.codec, b.maxL2ValueBytes, l2Ttl, ttlNanos + graceNanos, metrics, entries),
                        trust,
                        l2Ttl,
                        b.leaseTtl,
                        b.leasePoll);
        BulkCacheLoader<K, V> bulk = b.bulkLoader;
        this.defaultLoader = b.asyncLoader != null
                ? b.asyncLoader
                : b.loader != null
                        ? loads.adapt(b.loader)
                        : bulk != null
                                ? loads.adapt(key -> bulk.loadAll(Set.of(key)).get(key))
                                : null;

        this.l1 = new L1Tier<>(b.maximumSize, b.weigher, b.maximumWeight, ticker, hitClock, entries, metrics);
        this.inFlight = new InFlightLoads<>(name, l1, trust, metrics, b.loadTimeout.toNanos());
        this.readThrough = new ReadThrough<>(loads, entries, inFlight, l2, ticker, metrics);
        Refreshes<K, V> refreshes = new Refreshes<>(name, refreshSlots, inFlight, readThrough, l2, ticker, metrics);
        this.reads = new L1Reads<>(l1, trust, refreshes, loads, metrics);
        this.invalidations = new Invalidations<>(
                name, inFlight, l2, repairs, trust, b.bus, b.keyDecoder, loads, executor, metrics, MAX_PENDING_REPAIRS);
        this.puts = new Puts<>(inFlight, l2, invalidations, entries, loads);
        this.bulkLoads = bulk == null ? null : new BulkLoads<>(bulk, inFlight, l2, loads, entries, metrics);

        // Caffeine keeps no expiry (see L1Tier): a periodic sweep frees entries nobody reads again,
        // so dead values do not wait for size eviction.
        long lifetimeNanos = Math.max(ttlNanos + graceNanos, negativeTtlNanos);
        long sweepNanos =
                Math.min(TimeUnit.MINUTES.toNanos(1), Math.max(TimeUnit.SECONDS.toNanos(1), lifetimeNanos / 2));
        this.sweep = Sweeper.every(sweepNanos, this::sweepExpired);
        this.repairTask = l2 == null ? null : Sweeper.every(REPAIR_PERIOD_NANOS, invalidations::repairRound);
        if (bus != null) {
            try {
                bus.subscribe(invalidations.listener());
            } catch (RuntimeException | Error e) {
                // a cache that failed to build must not stay registered or scheduled: a later build
                // of the same name would find its meters, and the sweeper would keep it alive
                sweep.cancel(false);
                if (repairTask != null) {
                    repairTask.cancel(false);
                }
                metrics.close();
                if (ownedExecutor != null) {
                    ownedExecutor.shutdown();
                }
                throw e;
            }
        }
    }

    /**
     * The key encoder, refusing keys that encode to null or an empty string, or to a string with an
     * unpaired UTF-16 surrogate. An empty key would be {@code <prefix>{}} in Redis, whose empty hash
     * tag puts the key and its lease in different Redis Cluster slots (every lease would fail with
     * CROSSSLOT); an unpaired surrogate becomes {@code '?'} in UTF-8, so two keys would share one
     * Redis string and one bus message.
     */
    private static <K> Function<K, String> nonEmptyKeys(String name, Function<? super K, String> encoder) {
        return key -> {
            String encoded = encoder.apply(key);
            if (encoded == null || encoded.isEmpty()) {
                throw new IllegalArgumentException("cache '" + name + "': key " + key + " encodes to "
                        + (encoded == null ? "null" : "an empty string") + "; L2 keys must not be empty");
            }
            if (!wellFormedUtf16(encoded)) {
                throw new IllegalArgumentException("cache '" + name + "': key " + key
                        + " encodes to a string with an unpaired UTF-16 surrogate, which UTF-8 cannot carry"
                        + " (it would share its Redis key with another)");
            }
            return encoded;
        };
    }

    /** Whether every surrogate in {@code s} is half of a pair. */
    static boolean wellFormedUtf16(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Starts building a cache.
     *
     * @param name the cache's name: the {@code cache} tag of its metrics and the subject of its log
     *     lines and exceptions; 1 to 64 characters from {@code [A-Za-z0-9._-]}
     * @param <K> the key type
     * @param <V> the value type
     * @return a builder with production defaults
     * @throws IllegalArgumentException if {@code name} is malformed
     */
    public static <K, V> TieredCacheBuilder<K, V> builder(String name) {
        return new TieredCacheBuilder<>(name);
    }

    /** Returns the cache's name. */
    public String name() {
        return name;
    }

    /**
     * Returns the value for {@code key}, loading it with the builder's loader on a miss.
     *
     * @param key the key
     * @return the value, or null if the loader found none
     * @throws NullPointerException if {@code key} is null
     * @throws IllegalStateException if the cache was built without a loader
     * @throws CacheLoadException if the value had to be loaded and the loader failed or took longer
     *     than {@code loadTimeout}
     */
    public @Nullable V get(K key) {
        Objects.requireNonNull(key, "key");
        return getSync(key, null, requireDefaultLoader());
    }

    /**
     * Returns the value for {@code key}, loading it with {@code loader} on a miss. A load already in
     * flight for the key (from any loader) is joined rather than repeated.
     *
     * @param key the key
     * @param loader loads the value on a miss; runs on the cache's executor
     * @return the value, or null if the loader found none
     * @throws NullPointerException if {@code key} or {@code loader} is null
     * @throws CacheLoadException if the loader failed or took longer than {@code loadTimeout}
     */
    public @Nullable V get(K key, CacheLoader<? super K, ? extends V> loader) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(loader, "loader");
        return getSync(key, loader, null);
    }

    /** The synchronous read path; exactly one of the loaders is non-null. */
    private @Nullable V getSync(
            K key,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        Object served = reads.read(key, syncLoader, asyncLoader);
        if (served != MISS) {
            return cast(served);
        }
        AsyncCacheLoader<K, V> loader =
                asyncLoader != null ? asyncLoader : loads.adapt(Objects.requireNonNull(syncLoader));
        return loads.await(slowGet(key, loader));
    }

    /**
     * Returns the value for {@code key} if L1 holds a usable one (fresh or within grace), without
     * loading and without touching L2. A stale hit still triggers its background refresh when the
     * cache has a loader.
     *
     * @param key the key
     * @return the value, or null if L1 has none (or holds a cached absence)
     * @throws NullPointerException if {@code key} is null
     */
    public @Nullable V getIfPresent(K key) {
        Objects.requireNonNull(key, "key");
        Object served = reads.read(key, null, defaultLoader);
        if (served == MISS) {
            metrics.l1Misses.increment();
            return null;
        }
        return cast(served);
    }

    /**
     * Asynchronous {@link #get(Object)}: never blocks the caller.
     *
     * @param key the key
     * @return a future of the value (null if none), failing with {@link CacheLoadException}
     * @throws NullPointerException if {@code key} is null
     * @throws IllegalStateException if the cache was built without a loader
     */
    public CompletableFuture<@Nullable V> getAsync(K key) {
        return getAsync(key, requireDefaultLoader());
    }

    /**
     * Asynchronous {@link #get(Object, CacheLoader)} with an asynchronous loader.
     *
     * @param key the key
     * @param loader starts loading the value on a miss
     * @return a future of the value (null if none), failing with {@link CacheLoadException}
     * @throws NullPointerException if {@code key} or {@code loader} is null
     */
    public CompletableFuture<@Nullable V> getAsync(K key, AsyncCacheLoader<? super K, ? extends V> loader) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(loader, "loader");
        @SuppressWarnings("unchecked")
        AsyncCacheLoader<K, V> typed = (AsyncCacheLoader<K, V>) loader;
        Object served = reads.read(key, null, typed);
        if (served != MISS) {
            return CompletableFuture.completedFuture(cast(served));
        }
        CompletableFuture<@Nullable V> value = slowGet(key, typed);
        // The caller's continuations run on the cache's executor, never on the Redis I/O thread
        // that completed the load (a blocking call there stalls every L2 call of the process).
        return value.isDone() ? value : value.thenApplyAsync(Function.identity(), executor);
    }

    /**
     * Returns the values of several keys. Keys L1 can answer are answered from it; the rest are read
     * from L2 in one pipelined batch, and what L2 lacks is loaded by the {@linkplain
     * TieredCacheBuilder#bulkLoader bulk loader} in one call (without one, each key is loaded through {@link
     * #get(Object)}'s path, concurrently). Keys already being loaded by another caller are joined,
     * not loaded twice.
     *
     * @param keys the keys; duplicates are read once
     * @return the keys that have a value, with their values, in iteration order
     * @throws NullPointerException if {@code keys} or any key is null
     * @throws IllegalStateException if the cache was built without any loader
     * @throws CacheLoadException if a load failed
     */
    public Map<K, V> getAll(Iterable<? extends K> keys) {
        Objects.requireNonNull(keys, "keys");
        AsyncCacheLoader<K, V> loader = requireDefaultLoader();
        BulkLoads<K, V> bulk = bulkLoads;
        Map<K, @Nullable V> found = new LinkedHashMap<>();
        Map<K, CompletableFuture<@Nullable V>> singles = new LinkedHashMap<>();
        Set<K> missing = new LinkedHashSet<>();
        for (K key : keys) {
            Objects.requireNonNull(key, "keys contains a null key");
            if (found.containsKey(key) || singles.containsKey(key) || missing.contains(key)) {
                continue;
            }
            Object served = reads.read(key, null, loader);
            if (served != MISS) {
                found.put(key, cast(served));
            } else if (bulk == null) {
                singles.put(key, slowGet(key, loader));
            } else {
                missing.add(key);
            }
        }
        if (!missing.isEmpty()) {
            found.putAll(Objects.requireNonNull(bulk).load(missing, key -> slowGet(key, loader)));
        }
        if (!singles.isEmpty()) { // one wait for all of them: at most loadTimeout, not one per key
            loads.await(CompletableFuture.allOf(singles.values().toArray(new CompletableFuture<?>[0])));
            singles.forEach((key, f) -> found.put(key, f.join()));
        }
        Map<K, V> result = new LinkedHashMap<>();
        for (K key : keys) {
            V value = found.get(key);
            if (value != null) {
                result.putIfAbsent(key, value);
            }
        }
        return result;
    }

    /**
     * Stores a value in L1 and L2 (bumping the L2 version, so loads in flight elsewhere cannot
     * overwrite it) and tells the other instances. An L2 failure is counted, not thrown; the key's
     * old L2 value is then invalidated as soon as L2 answers again (see {@link #invalidate}). A
     * value too large for L2 is kept in L1 only and its key invalidated in L2.
     *
     * <p>Concurrent puts of one key on this instance take turns, so L1 ends with the value L2 ends
     * with. A put is fenced like a load: an invalidation that reaches this instance before the put
     * has installed its value (it may be newer in L2) makes the put install nothing, so the next read
     * fetches whatever L2 holds then; across instances, racing puts end with every instance serving
     * the value L2 kept once the bus has delivered.
     *
     * @param key the key
     * @param value the value
     * @return true if L2 took the value (or there is no L2); false if it did not, in which case the
     *     key's old L2 value is invalidated as soon as L2 answers again and other instances load the
     *     key instead of reading L2 meanwhile
     * @throws NullPointerException if an argument is null
     */
    public boolean put(K key, V value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        return puts.put(key, value);
    }

    /**
     * Removes a key from L1 and L2. The L2 removal bumps the key's version, so a load already in
     * flight anywhere cannot write its older value back, then tells the other instances. Waits for
     * L2 up to {@code l2Timeout}; an L2 failure is counted, not thrown.
     *
     * <p>If L2 does not take the invalidation (unreachable, slow, breaker open), this instance keeps
     * the key, stops serving its L2 value (loading instead), and retries the invalidation every
     * second until L2 takes it, then tells the other instances again. Meanwhile the other instances,
     * told to drop the key whatever its version, do not serve its L2 value either: they load the key
     * until this instance's repair reaches them, or for at most {@code l2Ttl} (by when the old L2
     * value has expired). Pending keys are held in memory (metric {@code
     * headroom.cache.l2.repairs.pending}); past 100,000 of them one clear of all the cache's L2 keys
     * replaces them. If this instance dies first, the old L2 value lives until its L2 TTL. An open
     * circuit breaker does not stop the invalidation: it is tried anyway, bounded by {@code
     * l2Timeout}.
     *
     * @param key the key
     * @return true if L2 took the invalidation (or there is no L2); false if it is pending, as above
     * @throws NullPointerException if {@code key} is null
     */
    public boolean invalidate(K key) {
        Objects.requireNonNull(key, "key");
        return invalidations.invalidate(key);
    }

    /**
     * Removes every entry from L1 and every key of this cache's L2 store (only those), and tells the
     * other instances to flush their L1. If the L2 clear fails it is retried every second until it
     * succeeds, L2 values being bypassed meanwhile, and the other instances are told again.
     *
     * @return true if L2 took the clear (or there is no L2); false if it is pending, as above
     */
    public boolean invalidateAll() {
        return invalidations.invalidateAll();
    }

    /**
     * Loads a key again with the builder's loader, bypassing the stored values, and installs the
     * result. Readers keep getting the current value meanwhile. If a load, put or refresh of the key
     * is already in flight in this process, no other load starts: the returned future is that one's.
     *
     * @param key the key
     * @return a future of the new value (null if none)
     * @throws IllegalStateException if the cache was built without a loader
     */
    public CompletableFuture<@Nullable V> refresh(K key) {
        Objects.requireNonNull(key, "key");
        AsyncCacheLoader<K, V> loader = requireDefaultLoader();
        // Registered like a load, so an invalidation or put while it runs fences its install; readers
        // keep getting the current L1 value meanwhile. One load per key, refreshes included: a load,
        // put or refresh already in flight answers this refresh too.
        CompletableFuture<CacheEntry<V>> mine = new CompletableFuture<>();
        CompletableFuture<CacheEntry<V>> registered = inFlight.registerIfIdle(key, mine);
        if (registered == null) {
            registered = mine;
            inFlight.run(key, mine, () -> readThrough.load(key, loader, true, mine));
        }
        return valueOf(key, loader, registered);
    }

    /** Returns the approximate number of L1 entries. */
    public long estimatedSize() {
        return l1.estimatedSize();
    }

    /**
     * Closes the L2 store and the cache's own loader pool (if it made one). L1 stays readable;
     * further L2 calls fail and are counted.
     */
    @Override
    public void close() {
        sweep.cancel(false);
        if (repairTask != null) {
            repairTask.cancel(false);
        }
        if (bus != null) {
            bus.close();
        }
        L2Tier<K, V> tier = l2;
        if (tier != null) {
            tier.store.close();
        }
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
        }
        metrics.close(); // a cache of the same name can then be built on the same registry
    }

    /** An L1 miss: joins the key's load in flight or registers and runs one. */
    private CompletableFuture<@Nullable V> slowGet(K key, AsyncCacheLoader<K, V> loader) {
        L2Tier<K, V> tier = l2;
        if (tier != null) {
            String unused = tier.remoteKey(key); // a key L2 cannot take fails the call, not the load its waiters share
        }
        metrics.l1Misses.increment();
        InFlightLoads.Registration<V> r = inFlight.register(key);
        if (r.owner()) {
            inFlight.run(key, r.future(), () -> readThrough.load(key, loader, false, r.future()));
        }
        return valueOf(key, loader, r.future());
    }

    /** The value a registration completed with; a dropped refresh is loaded again. */
    private CompletableFuture<@Nullable V> valueOf(
            K key, AsyncCacheLoader<K, V> loader, CompletableFuture<CacheEntry<V>> registration) {
        return registration.thenCompose(entry -> InFlightLoads.isDropped(entry)
                ? slowGet(key, loader)
                : CompletableFuture.completedFuture(entry == null ? null : entry.value()));
    }

    /** Removes entries past their lifetime; runs on the shared sweeper thread. */
    private void sweepExpired() {
        try {
            long now = ticker.read();
            l1.sweep(now);
            refreshSlots.sweep(now);
            trust.sweep(now);
        } catch (RuntimeException e) {
            log.warn("cache '{}': L1 sweep failed; expired entries wait for the next sweep or a read", name, e);
        }
    }

    @SuppressWarnings("unchecked")
    private @Nullable V cast(@Nullable Object served) {
        return (V) served;
    }

    private AsyncCacheLoader<K, V> requireDefaultLoader() {
        AsyncCacheLoader<K, V> loader = defaultLoader;
        if (loader == null) {
            throw new IllegalStateException("cache '" + name + "' was built without a loader: pass one to"
                    + " get(key, loader) or set TieredCacheBuilder.loader(...)");
        }
        return loader;
    }

    @Override
    public String toString() {
        return "TieredCache[" + name + ", l1=" + estimatedSize() + " entries, l2=" + (l2 != null) + "]";
    }
}
