package dev.headroom.cache;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.cache.internal.CacheEntry;
import dev.headroom.cache.internal.CacheMetrics;
import dev.headroom.cache.internal.CoarseClock;
import dev.headroom.cache.internal.Entries;
import dev.headroom.cache.internal.GuardedRemoteStore;
import dev.headroom.cache.internal.L2Repairs;
import dev.headroom.cache.internal.L2Trust;
import dev.headroom.cache.internal.L2Values;
import dev.headroom.cache.internal.Loads;
import dev.headroom.cache.internal.RefreshSlots;
import dev.headroom.cache.internal.Sweeper;
import dev.headroom.cache.internal.Timeouts;
import dev.headroom.core.Ticker;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToIntBiFunction;
import java.util.random.RandomGenerator;
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
    /** Returned by {@link #readL1} when L1 has no usable entry; never escapes to callers. */
    private static final Object MISS = new Object();
    /**
     * What a background refresh completes with when it finds the key invalidated or gone elsewhere:
     * L1 drops the entry, and a read that joined the refresh loads again instead of taking it for
     * an absence. Never installed, never returned.
     */
    private static final CacheEntry<?> DROPPED = new CacheEntry<>(null, 0, 0, 0, -1);

    private final String name;
    /** Loader calls and waits for loads. */
    private final Loads<K, V> loads;
    /** Entry lifetimes. */
    private final Entries<V> entryMaker;
    /** Values to and from L2: codec, size limit, age of what L2 returns, fenced write-back. */
    private final L2Values<V> l2Values;
    /** Completed entries only; Caffeine never sees a future (its async cache costs two writes per load). */
    private final Cache<K, CacheEntry<V>> l1;
    /**
     * Loads in flight, one per key: a reader that misses joins the registered one. A load installs its
     * result in L1 only while it is still registered, under this map's lock for the key; invalidations
     * and puts unregister it under the same lock, so a load that began before them never installs.
     */
    private final ConcurrentHashMap<K, CompletableFuture<CacheEntry<V>>> loading = new ConcurrentHashMap<>();
    /** Striped: puts of one key on this instance take turns (see {@link #put}). */
    private final ReentrantLock[] putLocks = newLocks(64);

    private final Ticker ticker;
    /** Decides freshness on L1 hits: {@link CoarseClock} unless a ticker was set on the builder. */
    private final Ticker hitClock;

    private final long ttlNanos;
    private final long graceNanos;
    private final long negativeTtlNanos;
    private final double ttlJitter;
    private final @Nullable RandomGenerator random;
    private final Executor executor;
    private final @Nullable ExecutorService ownedExecutor;
    private final @Nullable AsyncCacheLoader<K, V> defaultLoader;
    private final @Nullable BulkCacheLoader<K, V> bulkLoader;
    private final @Nullable GuardedRemoteStore remote;
    private final Function<? super K, String> keyEncoder;
    private final @Nullable Function<String, ? extends K> keyDecoder;
    private final @Nullable InvalidationBus bus;
    private final Duration l2Ttl;
    private final long loadTimeoutNanos;
    private final long l1TtlWhileBusDownNanos;
    private final Duration leaseTtl;
    private final Executor pollDelay;
    /** One background refresh per key, retry pauses, early-refresh draws. */
    private final RefreshSlots<K> refreshSlots;

    /** When L2 values (and, during a flush, L1 entries) are not to be served. */
    private final L2Trust trust;
    /** Keys whose L2 invalidation is retried one by one; beyond them, all of the cache's L2 keys are cleared. */
    static final int MAX_PENDING_REPAIRS = 100_000;

    private static final long REPAIR_PERIOD_NANOS = TimeUnit.SECONDS.toNanos(1);
    private final CacheMetrics metrics;
    private final ScheduledFuture<?> sweep;
    /** Invalidations L2 has not taken yet; null without L2. */
    private final @Nullable L2Repairs repairs;

    private final L2Repairs.@Nullable Store repairStore;
    private final @Nullable ScheduledFuture<?> repairTask;

    TieredCache(TieredCacheBuilder<K, V> b) {
        this.name = b.name;
        this.ticker = b.ticker != null ? b.ticker : Ticker.system();
        this.hitClock = b.ticker != null ? b.ticker : CoarseClock.shared();
        this.ttlNanos = b.ttl.toNanos();
        this.graceNanos = b.grace.toNanos();
        this.negativeTtlNanos = b.negativeTtl.toNanos();
        this.ttlJitter = b.ttlJitter;
        this.refreshSlots = new RefreshSlots<>(ticker, b.refreshRetryDelay.toNanos(), b.xfetchBeta, b.random);
        this.random = b.random;
        this.ownedExecutor = b.executor == null ? Loads.newLoaderPool(name) : null;
        this.executor = b.executor != null ? b.executor : Objects.requireNonNull(ownedExecutor);
        Function<? super K, String> encoder = b.keyEncoder;
        this.keyEncoder = key -> {
            String encoded = encoder.apply(key);
            // An empty key would be '<prefix>{}' in Redis, whose empty hash tag puts the key and its
            // lease in different Redis Cluster slots: every lease would fail with CROSSSLOT.
            if (encoded == null || encoded.isEmpty()) {
                throw new IllegalArgumentException("cache '" + name + "': key " + key + " encodes to "
                        + (encoded == null ? "null" : "an empty string") + "; L2 keys must not be empty");
            }
            return encoded;
        };
        this.keyDecoder = b.keyDecoder;
        this.bus = b.bus;
        this.l2Ttl = b.l2Ttl != null ? b.l2Ttl : b.ttl.plus(b.grace);
        this.loadTimeoutNanos = b.loadTimeout.toNanos();
        this.l1TtlWhileBusDownNanos = b.l1TtlWhileBusDown.toNanos();
        this.leaseTtl = b.leaseTtl;
        // The poll only issues an async L2 read: run it on the JDK's delay thread rather than on an
        // executor that blocking loaders may have saturated.
        this.pollDelay = CompletableFuture.delayedExecutor(b.leasePoll.toNanos(), TimeUnit.NANOSECONDS, Runnable::run);
        this.bulkLoader = b.bulkLoader;
        BulkCacheLoader<K, V> bulk = b.bulkLoader;
        CircuitBreaker breaker = b.remote == null
                ? null
                : GuardedRemoteStore.newBreaker(
                        name,
                        b.breakerConfig != null ? b.breakerConfig : GuardedRemoteStore.defaultConfig(b.breakerOpenFor));
        L2Repairs pendingRepairs = b.remote == null ? null : new L2Repairs(MAX_PENDING_REPAIRS);
        this.repairs = pendingRepairs;
        this.trust = new L2Trust(ticker, l2Ttl.toNanos(), MAX_PENDING_REPAIRS, pendingRepairs);
        this.metrics = b.meterRegistry == null
                ? CacheMetrics.unregistered(name)
                : new CacheMetrics(
                        name,
                        b.meterRegistry,
                        () -> breaker == null ? "CLOSED" : breaker.getState().name(),
                        () -> pendingRepairs == null ? 0 : pendingRepairs.pending(),
                        b.bus == null ? null : b.bus::isDelivering);
        GuardedRemoteStore guarded = b.remote == null
                ? null
                : new GuardedRemoteStore(b.remote, b.l2Timeout, Objects.requireNonNull(breaker), metrics);
        this.remote = guarded;
        this.loads = new Loads<>(name, executor, ticker, metrics, loadTimeoutNanos);
        this.entryMaker = new Entries<>(
                ticker,
                ttlNanos,
                graceNanos,
                negativeTtlNanos,
                ttlJitter,
                random,
                b.bus,
                l1TtlWhileBusDownNanos,
                metrics);
        this.l2Values =
                new L2Values<>(name, b.codec, b.maxL2ValueBytes, l2Ttl, ttlNanos + graceNanos, metrics, entryMaker);
        this.defaultLoader = b.asyncLoader != null
                ? b.asyncLoader
                : b.loader != null
                        ? loads.adapt(b.loader)
                        : bulk != null
                                ? loads.adapt(key -> bulk.loadAll(Set.of(key)).get(key))
                                : null;
        this.repairStore = guarded == null
                ? null
                : new L2Repairs.Store() {
                    @Override
                    public CompletableFuture<Long> invalidate(String key) {
                        return guarded.invalidate(key);
                    }

                    @Override
                    public CompletableFuture<Void> clear() {
                        return guarded.clear();
                    }
                };

        Caffeine<Object, Object> caffeine = Caffeine.newBuilder()
                .ticker(ticker::read)
                // Maintenance (amortized, bounded buffer drains) and the removal listener (a counter)
                // run on the writing thread: handing them to a pool woke a thread per L1 write,
                // ~2 context switches and ~30 µs of CPU per L2 hit on 2 vCPUs (benchmarks/RESULTS.md).
                .executor(Runnable::run)
                .removalListener((k, v, cause) -> {
                    if (cause.wasEvicted()) {
                        metrics.evictions.increment();
                    }
                });
        if (b.weigher != null) {
            ToIntBiFunction<? super K, ? super V> weigher = b.weigher;
            caffeine.maximumWeight(b.maximumWeight)
                    .weigher((K k, CacheEntry<V> e) -> e.value() == null ? 1 : weigher.applyAsInt(k, e.value()));
        } else {
            caffeine.maximumSize(b.maximumSize);
        }
        // No Caffeine expiry: it costs a clock read and timer-wheel upkeep on every hit (measured
        // 40 ns vs 10 ns for a size-only read), and the read path already reads the clock for
        // freshness. Each entry's lifetime is checked on read; a periodic sweep frees entries
        // nobody reads again, so dead values do not wait for size eviction.
        this.l1 = caffeine.build();
        long lifetimeNanos = Math.max(ttlNanos + graceNanos, negativeTtlNanos);
        long sweepNanos =
                Math.min(TimeUnit.MINUTES.toNanos(1), Math.max(TimeUnit.SECONDS.toNanos(1), lifetimeNanos / 2));
        this.sweep = Sweeper.every(sweepNanos, this::sweepExpired);
        this.repairTask = remote == null ? null : Sweeper.every(REPAIR_PERIOD_NANOS, this::repairL2);
        if (bus != null) {
            try {
                bus.subscribe(new BusListener());
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
        Object served = readL1(key, syncLoader, asyncLoader);
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
        Object served = readL1(key, null, defaultLoader);
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
        Object served = readL1(key, null, typed);
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
    @SuppressWarnings("FutureReturnValueIgnored") // the bulk load's callback finishes every registration itself
    public Map<K, V> getAll(Iterable<? extends K> keys) {
        Objects.requireNonNull(keys, "keys");
        AsyncCacheLoader<K, V> loader = requireDefaultLoader();
        BulkCacheLoader<K, V> bulk = bulkLoader;
        Map<K, @Nullable V> found = new LinkedHashMap<>();
        Map<K, CompletableFuture<@Nullable V>> singles = new LinkedHashMap<>();
        Set<K> missing = new LinkedHashSet<>();
        for (K key : keys) {
            Objects.requireNonNull(key, "keys contains a null key");
            if (found.containsKey(key) || singles.containsKey(key) || missing.contains(key)) {
                continue;
            }
            Object served = readL1(key, null, loader);
            if (served != MISS) {
                found.put(key, cast(served));
                continue;
            }
            if (bulk == null) {
                singles.put(key, slowGet(key, loader));
            } else {
                missing.add(key);
            }
        }
        if (!missing.isEmpty()) {
            metrics.l1Misses.add(missing.size());
            Map<K, CompletableFuture<CacheEntry<V>>> waits = new LinkedHashMap<>();
            Map<K, CompletableFuture<CacheEntry<V>>> owned = new HashMap<>();
            @Nullable CompletableFuture<Map<K, CacheEntry<V>>> bulkLoad;
            try {
                for (K key : missing) {
                    Registration<V> r = registerLoad(key);
                    waits.put(key, r.future());
                    if (r.owner()) {
                        owned.put(key, r.future());
                    }
                }
                bulkLoad = owned.isEmpty() ? null : bulkLoadThrough(owned.keySet(), Objects.requireNonNull(bulk));
            } catch (RuntimeException | Error e) { // registrations taken so far must be finished
                owned.forEach((key, mine) -> finishLoad(key, mine, null, e));
                throw e;
            }
            if (bulkLoad != null) {
                bulkLoad.whenComplete((entries, error) -> owned.forEach(
                        (key, mine) -> finishLoad(key, mine, error == null ? entries.get(key) : null, error)));
            }
            loads.await(CompletableFuture.allOf(waits.values().toArray(new CompletableFuture<?>[0])));
            waits.forEach((key, f) -> {
                CacheEntry<V> entry = f.join();
                found.put(
                        key,
                        entry == DROPPED ? loads.await(slowGet(key, loader)) : entry == null ? null : entry.value());
            });
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

    /** Reads all of {@code keys} from L2 at once (pipelined), bulk-loads the rest, writes them back fenced. */
    @SuppressWarnings(
            "FutureReturnValueIgnored") // write-backs are best effort; GuardedRemoteStore counts their failures
    private CompletableFuture<Map<K, CacheEntry<V>>> bulkLoadThrough(
            Set<? extends K> keys, BulkCacheLoader<K, V> bulk) {
        GuardedRemoteStore store = remote;
        List<K> list = new ArrayList<>(keys);
        List<CompletableFuture<@Nullable RemoteValue>> reads = new ArrayList<>(list.size());
        for (K key : list) {
            if (store == null) {
                reads.add(CompletableFuture.completedFuture(null));
            } else {
                String remoteKey = keyEncoder.apply(key);
                reads.add(L2Values.orNullOnFailure(store.get(remoteKey))
                        .thenApply(read -> trust.withoutSuspectValue(remoteKey, read)));
            }
        }
        return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                .thenCompose(ignored -> {
                    Map<K, CacheEntry<V>> entries = new HashMap<>();
                    Map<K, @Nullable RemoteValue> versions = new HashMap<>(); // null: unknown
                    for (int i = 0; i < list.size(); i++) {
                        K key = list.get(i);
                        RemoteValue read = reads.get(i).join();
                        if (read != null && read.value() != null) {
                            CacheEntry<V> hit = l2Values.l2Hit(read);
                            if (hit != null) {
                                entries.put(key, hit);
                                continue;
                            }
                        } else if (read != null) {
                            metrics.l2Misses.increment();
                        }
                        versions.put(key, read);
                    }
                    if (versions.isEmpty()) {
                        return CompletableFuture.completedFuture(entries);
                    }
                    return loads.callBulk(bulk, versions.keySet()).thenApply(values -> {
                        for (Map.Entry<K, @Nullable RemoteValue> e : versions.entrySet()) {
                            K key = e.getKey();
                            RemoteValue read = e.getValue();
                            V value = values.get(key);
                            CacheEntry<V> entry =
                                    entryMaker.toEntry(new Loads.Loaded<>(value, 0), L2Values.versionOf(read));
                            if (value != null && store != null && L2Values.writable(read)) {
                                l2Values.writeBack(
                                        store, keyEncoder.apply(key), value, Objects.requireNonNull(read), entry);
                            }
                            if (entry != null) {
                                entries.put(key, entry);
                            }
                        }
                        return entries;
                    });
                });
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
        GuardedRemoteStore store = remote;
        if (store == null) {
            CacheEntry<V> entry = entryMaker.newEntry(value, 0, -1);
            @Nullable RuntimeException[] notCached = {null};
            loading.compute(key, (k, inFlight) -> { // a load in flight holds older data: unregister it
                notCached[0] = install(k, entry);
                return null;
            });
            if (notCached[0] != null) {
                throw notCached[0]; // the weigher's failure, for example
            }
            return true;
        }
        String remoteKey = keyEncoder.apply(key);
        // Puts of one key on this instance take turns, so the one that reaches L2 last is also the
        // one installed in L1 last (two racing puts left L1 holding the value L2 had replaced).
        ReentrantLock lock = putLocks[(remoteKey.hashCode() & 0x7fffffff) % putLocks.length];
        lock.lock();
        try {
            return putThroughL2(key, value, store, remoteKey);
        } finally {
            lock.unlock();
        }
    }

    /**
     * A put is registered like a load: a load in flight is superseded (it will not install), and an
     * invalidation that arrives before the put has installed — from this instance or over the bus,
     * and so possibly newer than the put in L2 — unregisters it, and it then installs nothing.
     */
    @SuppressWarnings("ReferenceEquality") // identity: is the registration still this put's?
    private boolean putThroughL2(K key, V value, GuardedRemoteStore store, String remoteKey) {
        CompletableFuture<CacheEntry<V>> mine = new PutInFlight<>();
        loading.put(key, mine);
        CacheEntry<V> entry = null;
        @Nullable RuntimeException[] notCached = {null};
        boolean tookIt;
        try {
            long version = -1;
            byte[] bytes = l2Values.encodeForL2(value);
            if (bytes == null) {
                // kept in L1 only: the old L2 value must not outlive it elsewhere
                tookIt = invalidateL2(store, remoteKey);
            } else {
                Long written = loads.awaitQuietly(store.put(remoteKey, bytes, l2Ttl));
                if (written == null) {
                    l2InvalidationFailed(remoteKey); // L2 may still hold the previous value
                } else {
                    version = written;
                }
                tookIt = written != null;
                publishInvalidation(remoteKey, written);
            }
            CacheEntry<V> installed = entryMaker.newEntry(value, 0, version);
            entry = installed;
            loading.computeIfPresent(key, (k, registered) -> {
                if (registered != mine) {
                    return registered;
                }
                notCached[0] = install(k, installed);
                return null;
            });
        } finally {
            loading.remove(key, mine);
            if (entry != null) {
                mine.complete(entry); // readers that joined the put get its value
            } else {
                mine.completeExceptionally(new CacheLoadException(name, new IllegalStateException("put failed")));
            }
        }
        if (notCached[0] != null) {
            throw notCached[0]; // the weigher's failure, for example
        }
        return tookIt;
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
        // L2 first: a load starting after the L1 drop must not find the old value in L2 and install it.
        GuardedRemoteStore store = remote;
        boolean tookIt = store == null || invalidateL2(store, keyEncoder.apply(key));
        dropLocally(key);
        return tookIt;
    }

    /** Drops a key from L1 and unregisters its load in flight, which then never installs. */
    private void dropLocally(K key) {
        loading.compute(key, (k, inFlight) -> {
            l1.invalidate(k);
            return null;
        });
    }

    /** Empties L1; loads in flight are unregistered first, so none installs what it read before. */
    private void flushLocally() {
        loading.clear();
        l1.invalidateAll();
        metrics.l1Flushes.increment();
    }

    /**
     * Invalidates a key in L2 and tells the other instances; if L2 does not take it, the key is kept
     * for repair (its L2 value bypassed meanwhile) and the message says "any version".
     */
    private boolean invalidateL2(GuardedRemoteStore store, String remoteKey) {
        Long version = loads.awaitQuietly(store.invalidate(remoteKey));
        if (version == null) {
            l2InvalidationFailed(remoteKey);
        }
        publishInvalidation(remoteKey, version);
        return version != null;
    }

    /** Keeps a failed L2 invalidation ({@code remoteKey}) or clear (null) for the repair task. */
    private void l2InvalidationFailed(@Nullable String remoteKey) {
        L2Repairs r = Objects.requireNonNull(repairs);
        boolean first = r.pending() == 0;
        boolean clearWasPending = r.clearPending();
        if (remoteKey == null) {
            r.clearFailed();
        } else if (!r.keyFailed(remoteKey) && !clearWasPending) { // once per overflow, not per key
            log.warn(
                    "cache '{}': more than {} L2 invalidations pending; all of this cache's L2 keys will be"
                            + " cleared once L2 answers",
                    name,
                    MAX_PENDING_REPAIRS);
        }
        if (first) {
            log.warn(
                    "cache '{}': L2 did not take an invalidation; its L2 value is bypassed and the"
                            + " invalidation retried every second until L2 takes it",
                    name);
        }
    }

    /** One repair round, on the shared sweeper thread: asynchronous calls only. */
    @SuppressWarnings(
            "FutureReturnValueIgnored") // the round reports its own failures; the callback only logs completion
    private void repairL2() {
        learnClears(false);
        L2Repairs r = Objects.requireNonNull(repairs);
        if (r.pending() == 0) {
            return;
        }
        try {
            r.run(
                            Objects.requireNonNull(repairStore),
                            (remoteKey, version) -> {
                                metrics.l2Repairs.increment();
                                publishRepaired(remoteKey, version);
                            },
                            () -> {
                                metrics.l2Repairs.increment();
                                publishFlush();
                            })
                    .whenComplete((ok, error) -> {
                        if (r.pending() == 0) {
                            log.info("cache '{}': pending L2 invalidations applied", name);
                        }
                    });
        } catch (RuntimeException e) {
            log.warn("cache '{}': L2 repair round failed; retrying in a second", name, e);
        }
    }

    /**
     * Removes every entry from L1 and every key of this cache's L2 store (only those), and tells the
     * other instances to flush their L1. If the L2 clear fails it is retried every second until it
     * succeeds, L2 values being bypassed meanwhile, and the other instances are told again.
     *
     * @return true if L2 took the clear (or there is no L2); false if it is pending, as above
     */
    public boolean invalidateAll() {
        GuardedRemoteStore store = remote;
        boolean tookIt = true;
        if (store != null) { // L2 first, as in invalidate()
            CompletableFuture<Void> clear = store.clear();
            loads.awaitQuietly(clear);
            if (!clear.isDone() || clear.isCompletedExceptionally()) {
                l2InvalidationFailed(null);
                tookIt = false;
            } else {
                trust.cleared(); // a clear that L2 took retires whatever another's failed one left
            }
        }
        flushLocally();
        InvalidationBus b = bus;
        if (b != null && !tookIt) {
            b.publishClearNotTaken();
            metrics.invalidationsSent.increment();
        } else {
            publishFlush();
        }
        return tookIt;
    }

    private void publishFlush() {
        InvalidationBus b = bus;
        if (b != null) {
            b.publishFlush();
            metrics.invalidationsSent.increment();
        }
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
        CompletableFuture<CacheEntry<V>> registered = loading.putIfAbsent(key, mine);
        if (registered == null) {
            registered = mine;
            runLoad(key, mine, () -> loadThrough(key, loader, true, mine));
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
        GuardedRemoteStore store = remote;
        if (store != null) {
            store.close();
        }
        if (ownedExecutor != null) {
            ownedExecutor.shutdown();
        }
        metrics.close(); // a cache of the same name can then be built on the same registry
    }

    // ---- read path -------------------------------------------------------------------------

    /**
     * The L1 read every public read starts with: the value of a usable entry (fresh, refreshed
     * early, or stale within grace, triggering its refresh), or {@link #MISS}.
     */
    private @Nullable Object readL1(
            K key,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        CacheEntry<V> entry = l1.getIfPresent(key);
        return entry == null || trust.flushUnderWay() ? MISS : serve(key, entry, syncLoader, asyncLoader);
    }

    /** Serves an L1 entry that exists; {@link #MISS} if it is past its lifetime. */
    private @Nullable Object serve(
            K key,
            CacheEntry<V> entry,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        long now = hitClock.read();
        if (now - entry.expiresAt() >= 0) {
            // Past its lifetime: left in place for the load's install (or the sweep) to replace, which
            // saves an L1 write per miss; the replacement counts the expiration.
            return MISS;
        }
        if (now - entry.freshUntil() < 0) {
            if (refreshSlots.early(entry, now)) {
                metrics.earlyRefreshes.increment();
                refreshInBackground(key, entry, syncLoader, asyncLoader);
            }
            (entry.value() == null ? metrics.negativeHits : metrics.l1Hits).increment();
            return entry.value();
        }
        metrics.staleServed.increment();
        refreshInBackground(key, entry, syncLoader, asyncLoader);
        return entry.value();
    }

    private void refreshFailed(K key, Throwable error) {
        refreshSlots.failed(key);
        metrics.refreshFailures.increment();
        log.debug("cache '{}': background refresh failed; serving stale, next try after the retry delay", name, error);
    }

    /**
     * Refreshes an entry in the background, as the key's one registered load: a read that misses
     * meanwhile joins it, a put or invalidation fences its install, and it does not start while
     * another load of the key runs. With L2, it is coordinated across instances (see {@link
     * #refreshThrough}).
     */
    @SuppressWarnings("FutureReturnValueIgnored") // a background refresh: its callback handles both outcomes
    private void refreshInBackground(
            K key,
            CacheEntry<V> current,
            @Nullable CacheLoader<? super K, ? extends V> syncLoader,
            @Nullable AsyncCacheLoader<K, V> asyncLoader) {
        AsyncCacheLoader<K, V> loader =
                asyncLoader != null ? asyncLoader : syncLoader != null ? loads.adapt(syncLoader) : null;
        if (loader == null || !refreshSlots.claim(key)) {
            return;
        }
        CompletableFuture<CacheEntry<V>> mine = new CompletableFuture<>();
        if (loading.putIfAbsent(key, mine) != null) {
            refreshSlots.release(key); // a load, put or refresh of the key is in flight: it is the refresh
            return;
        }
        mine.whenComplete((entry, error) -> {
            if (error != null) {
                refreshFailed(key, error);
            } else {
                metrics.refreshSuccesses.increment();
                refreshSlots.release(key);
            }
        });
        runLoad(key, mine, () -> refreshThrough(key, loader, current, mine));
    }

    /**
     * One refresh per key across instances: an L2 value newer than {@code current} (another
     * instance refreshed it, or a put) is adopted while still fresh; otherwise this instance takes
     * the key's lease fenced on the version it read, and loads; if another instance holds it, this
     * one polls L2 for that instance's value, and loads itself only if none comes before the lease
     * time has passed.
     */
    private CompletableFuture<CacheEntry<V>> refreshThrough(
            K key,
            AsyncCacheLoader<K, V> loader,
            CacheEntry<V> current,
            CompletableFuture<CacheEntry<V>> registration) {
        GuardedRemoteStore store = remote;
        if (store == null) {
            return loads.call(key, loader).thenApply(loaded -> entryMaker.toEntry(loaded, -1));
        }
        String remoteKey = keyEncoder.apply(key);
        boolean pending = trust.suspect(remoteKey);
        return L2Values.orNullOnFailure(store.get(remoteKey)).thenCompose(read -> {
            if (read == null || pending || !L2Values.writable(read) || leaseTtl.isZero()) {
                return loadAndWriteBack(key, loader, store, remoteKey, pending ? null : read, null, registration);
            }
            CacheEntry<V> adopted = adoptable(read, current);
            if (adopted != null) {
                return CompletableFuture.completedFuture(adopted);
            }
            long deadline = ticker.read() + leaseTtl.toNanos();
            if (read.value() == null && read.version() > current.version()) {
                // invalidated or found gone since the entry was made: drop it (the refresh
                // completes with nothing); the next read loads as for any miss
                return CompletableFuture.completedFuture(dropped());
            }
            if (read.value() == null) { // L2 never had it (too large, expired): refresh as a miss
                return loadOncePerCluster(key, loader, store, remoteKey, read, deadline, false, registration);
            }
            return refreshOncePerCluster(key, loader, store, remoteKey, read, current, deadline, false, registration);
        });
    }

    /** An L1 entry of {@code read} if it is newer than {@code current} and still fresh; else null. */
    private @Nullable CacheEntry<V> adoptable(RemoteValue read, CacheEntry<V> current) {
        if (read.value() == null || read.version() <= current.version()) {
            return null;
        }
        CacheEntry<V> hit = l2Values.l2Hit(read, current.loadNanos());
        return hit != null && ticker.read() - hit.freshUntil() < 0 ? hit : null;
    }

    /** The refresh's side of {@link #underLease}: waits for the holder's newer value, fenced on {@code read}. */
    private CompletableFuture<CacheEntry<V>> refreshOncePerCluster(
            K key,
            AsyncCacheLoader<K, V> loader,
            GuardedRemoteStore store,
            String remoteKey,
            RemoteValue read,
            CacheEntry<V> current,
            long deadline,
            boolean waited,
            CompletableFuture<CacheEntry<V>> registration) {
        return underLease(
                key,
                loader,
                store,
                remoteKey,
                read,
                deadline,
                waited,
                registration,
                token -> store.tryRefreshLease(remoteKey, token, leaseTtl, read),
                again -> {
                    if (again.version() == read.version()) { // the holder is still loading
                        return refreshOncePerCluster(
                                key, loader, store, remoteKey, read, current, deadline, true, registration);
                    }
                    CacheEntry<V> adopted = adoptable(again, current);
                    if (adopted != null) {
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(adopted);
                    }
                    if (again.value() == null) {
                        // the holder found the key gone, or it was invalidated: drop it
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(dropped());
                    }
                    // an undecodable value, or one too old to adopt: load it ourselves
                    return loadAndWriteBack(key, loader, store, remoteKey, again, null, registration);
                });
    }

    private CompletableFuture<@Nullable V> slowGet(K key, AsyncCacheLoader<K, V> loader) {
        if (remote != null) {
            String unused =
                    keyEncoder.apply(key); // a key L2 cannot take fails the call, not the load its waiters share
        }
        metrics.l1Misses.increment();
        Registration<V> r = registerLoad(key);
        if (r.owner()) {
            runLoad(key, r.future(), () -> loadThrough(key, loader, false, r.future()));
        }
        return valueOf(key, loader, r.future());
    }

    /** The value a registration completed with; a dropped refresh is loaded again. */
    private CompletableFuture<@Nullable V> valueOf(
            K key, AsyncCacheLoader<K, V> loader, CompletableFuture<CacheEntry<V>> registration) {
        return registration.thenCompose(entry -> entry == DROPPED
                ? slowGet(key, loader)
                : CompletableFuture.completedFuture(entry == null ? null : entry.value()));
    }

    @SuppressWarnings("unchecked")
    private CacheEntry<V> dropped() {
        return (CacheEntry<V>) DROPPED;
    }

    /** A load future for a key, and whether the caller registered it and must run the load. */
    private record Registration<V>(CompletableFuture<CacheEntry<V>> future, boolean owner) {}

    /**
     * Joins the key's load in flight, or registers a new one that the caller must run ({@link
     * Registration#owner()}) — unless a load finished between the caller's L1 read and now, whose
     * entry then completes the returned future at once.
     */
    private Registration<V> registerLoad(K key) {
        CompletableFuture<CacheEntry<V>> inFlight = loading.get(key);
        if (inFlight == null) {
            CompletableFuture<CacheEntry<V>> mine = new CompletableFuture<>();
            inFlight = loading.putIfAbsent(key, mine);
            if (inFlight == null) {
                CacheEntry<V> current = l1.getIfPresent(key);
                if (current != null && hitClock.read() - current.expiresAt() < 0 && !trust.flushUnderWay()) {
                    loading.remove(key, mine);
                    mine.complete(current);
                    return new Registration<>(mine, false);
                }
                return new Registration<>(mine, true);
            }
        }
        if (!inFlight.isDone()) {
            metrics.coalescedWaits.increment();
        }
        return new Registration<>(inFlight, false);
    }

    /** Runs a registered load and finishes it, whatever the load does (even throw). */
    @SuppressWarnings("FutureReturnValueIgnored") // finishLoad is the whole reaction, whatever the outcome
    private void runLoad(
            K key, CompletableFuture<CacheEntry<V>> mine, Supplier<CompletableFuture<CacheEntry<V>>> load) {
        CompletableFuture<CacheEntry<V>> started;
        try {
            started = load.get();
        } catch (RuntimeException | Error e) { // the registration must be finished whatever happens
            started = CompletableFuture.failedFuture(e);
        }
        // Bounded: a load that never completes must not wedge its key (every later reader would join
        // it and time out, and the loader would never be called again). At loadTimeout the
        // registration ends with a failure and the next reader starts a new load; the abandoned
        // load, if it ever finishes, installs nothing.
        CompletableFuture<CacheEntry<V>> bounded =
                started.isDone() ? started : Timeouts.shared().within(started, loadTimeoutNanos);
        bounded.whenComplete((entry, error) -> finishLoad(key, mine, entry, abandonedIfTimedOut(error)));
    }

    private @Nullable Throwable abandonedIfTimedOut(@Nullable Throwable error) {
        if (error instanceof TimeoutException) {
            metrics.loadsAbandoned.increment();
            return new CacheLoadException(
                    name,
                    new TimeoutException("load did not finish within loadTimeout (" + Duration.ofNanos(loadTimeoutNanos)
                            + "); abandoned, the next read loads again"));
        }
        return error;
    }

    /**
     * Installs a load's result in L1 if the load is still the key's registered one (nothing is
     * installed for a failure; a null entry, an absence not to cache, removes what L1 holds), then
     * completes the load's waiters — outside the lock, so their continuations never run under it.
     */
    @SuppressWarnings("ReferenceEquality") // identity: is the registration still this load's?
    private void finishLoad(
            K key, CompletableFuture<CacheEntry<V>> mine, @Nullable CacheEntry<V> entry, @Nullable Throwable error) {
        try {
            @Nullable RuntimeException[] notCached = {null};
            loading.computeIfPresent(key, (k, registered) -> {
                if (registered != mine) {
                    return registered; // invalidated or superseded meanwhile: the waiters get it, L1 does not
                }
                if (error == null) {
                    notCached[0] = install(k, entry);
                }
                return null;
            });
            if (notCached[0] != null) {
                log.warn(
                        "cache '{}': a loaded value was not cached in L1; its readers still get it",
                        name,
                        notCached[0]);
            }
        } finally {
            if (error != null) {
                mine.completeExceptionally(error);
            } else {
                mine.complete(entry);
            }
        }
    }

    /**
     * Puts an entry in L1 (null: removes the key), counting an expired entry it replaces. Runs under
     * the {@link #loading} lock, so it returns what Caffeine or the weigher threw instead of
     * throwing: a throw would leave the key's registration behind.
     */
    private @Nullable RuntimeException install(K key, @Nullable CacheEntry<V> given) {
        try {
            CacheEntry<V> entry = given == null || given == DROPPED ? null : entryMaker.cappedWhileBusDown(given);
            CacheEntry<V> old =
                    entry == null ? l1.asMap().remove(key) : l1.asMap().put(key, entry);
            if (old != null && hitClock.read() - old.expiresAt() >= 0) {
                metrics.expirations.increment();
            }
            return null;
        } catch (RuntimeException e) {
            return e;
        }
    }

    /**
     * Loads a key: from L2 if it has a decodable value (unless {@code bypassL2Value}), else from the
     * loader, writing the result back to L2 fenced on the version read first. Completes with null for
     * an absence that is not to be cached.
     */
    private CompletableFuture<CacheEntry<V>> loadThrough(
            K key,
            AsyncCacheLoader<K, V> loader,
            boolean bypassL2Value,
            @Nullable CompletableFuture<CacheEntry<V>> registration) {
        GuardedRemoteStore store = remote;
        if (store == null) {
            return loads.call(key, loader).thenApply(loaded -> entryMaker.toEntry(loaded, -1));
        }
        String remoteKey = keyEncoder.apply(key);
        // an invalidation L2 has not taken yet: its value there may be stale
        boolean bypass = bypassL2Value || trust.suspect(remoteKey);
        return L2Values.orNullOnFailure(store.get(remoteKey)).thenCompose(read -> {
            if (read != null && read.value() != null && !bypass) {
                CacheEntry<V> hit = l2Values.l2Hit(read);
                if (hit != null) {
                    return CompletableFuture.completedFuture(hit);
                }
            } else if (read != null && !bypass) {
                metrics.l2Misses.increment();
            }
            // A corrupt value (present but undecodable) would make every lease request fail:
            // repair it with a direct, fenced load instead.
            boolean corrupt = read != null && read.value() != null;
            if (read == null || bypass || leaseTtl.isZero() || corrupt) {
                return loadAndWriteBack(key, loader, store, remoteKey, read, null, registration);
            }
            return loadOncePerCluster(
                    key, loader, store, remoteKey, read, ticker.read() + leaseTtl.toNanos(), false, registration);
        });
    }

    /**
     * Cluster-wide coalescing: take the key's lease and load, or wait for the holder's value by
     * polling L2 (retrying the lease, so a holder that failed or died is replaced) until the lease
     * time has passed, then load regardless. An L2 error at any step means "load now".
     */
    private CompletableFuture<CacheEntry<V>> loadOncePerCluster(
            K key,
            AsyncCacheLoader<K, V> loader,
            GuardedRemoteStore store,
            String remoteKey,
            RemoteValue read,
            long deadline,
            boolean waited,
            @Nullable CompletableFuture<CacheEntry<V>> registration) {
        return underLease(
                key,
                loader,
                store,
                remoteKey,
                read,
                deadline,
                waited,
                registration,
                token -> store.tryLease(remoteKey, token, leaseTtl),
                again -> {
                    if (again.foundAbsent() && again.version() != read.version()) {
                        // the holder found nothing: absent, at the version read (so an invalidation
                        // message still drops an absence cached for negativeTtl)
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(
                                entryMaker.toEntry(new Loads.Loaded<>(null, 0), read.version()));
                    }
                    if (again.value() == null) {
                        return loadOncePerCluster(key, loader, store, remoteKey, again, deadline, true, registration);
                    }
                    CacheEntry<V> hit = l2Values.l2Hit(again);
                    if (hit == null) { // corrupt: repair with a direct, fenced load
                        return loadAndWriteBack(key, loader, store, remoteKey, again, null, registration);
                    }
                    metrics.clusterFills.increment();
                    return CompletableFuture.completedFuture(hit);
                });
    }

    /**
     * Takes the key's lease ({@code tryLease} with a fresh token) and loads; or, while another holds
     * it, polls L2 and lets {@code onPoll} decide what the new read means (it waits again by calling
     * back here), loading regardless once the lease time has passed. No answer to the lease request
     * means "load now": Redis may still have granted it (the reply was late), so the load writes back
     * fenced on what was read and releases what it may hold, and the others find the value or the
     * lease free.
     */
    @SuppressWarnings("TooManyParameters") // the load's context, passed down the poll loop
    private CompletableFuture<CacheEntry<V>> underLease(
            K key,
            AsyncCacheLoader<K, V> loader,
            GuardedRemoteStore store,
            String remoteKey,
            RemoteValue read,
            long deadline,
            boolean waited,
            @Nullable CompletableFuture<CacheEntry<V>> registration,
            Function<String, CompletableFuture<Boolean>> tryLease,
            Function<RemoteValue, CompletableFuture<CacheEntry<V>>> onPoll) {
        String token = Long.toHexString(ThreadLocalRandom.current().nextLong());
        return L2Values.orNullOnFailure(tryLease.apply(token)).thenCompose(acquired -> {
            if (acquired == null || acquired) {
                return loadAndWriteBack(key, loader, store, remoteKey, read, token, registration);
            }
            if (ticker.read() - deadline >= 0) {
                metrics.leaseTimeouts.increment();
                return loadAndWriteBack(key, loader, store, remoteKey, read, null, registration);
            }
            if (!waited) {
                metrics.clusterWaits.increment();
            }
            return CompletableFuture.runAsync(() -> {}, pollDelay)
                    .thenCompose(ignored -> L2Values.orNullOnFailure(store.get(remoteKey)))
                    .thenCompose(again -> again == null
                            ? loadAndWriteBack(key, loader, store, remoteKey, null, null, registration)
                            : onPoll.apply(again));
        });
    }

    /** Calls the loader, writes a value back fenced on what was {@code read}, then releases the lease. */
    // FutureReturnValueIgnored: the lease release is best effort (an unreleased lease expires on its
    // own); ReferenceEquality: is the registration still this load's?
    @SuppressWarnings({"FutureReturnValueIgnored", "ReferenceEquality"})
    private CompletableFuture<CacheEntry<V>> loadAndWriteBack(
            K key,
            AsyncCacheLoader<K, V> loader,
            GuardedRemoteStore store,
            String remoteKey,
            @Nullable RemoteValue read, // null: L2 did not answer, so never write back
            @Nullable String leaseToken,
            @Nullable CompletableFuture<CacheEntry<V>> registration) {
        return loads.call(key, loader).handle((loaded, error) -> {
            // A load superseded meanwhile (by a put, an invalidation, a clear) may have read L2 after
            // the newer write, so the version fence alone would let it through: it writes nothing.
            boolean current = registration == null || loading.get(key) == registration;
            V value = loaded == null ? null : loaded.value;
            CacheEntry<V> entry = error == null ? entryMaker.toEntry(loaded, L2Values.versionOf(read)) : null;
            CompletableFuture<?> written = CompletableFuture.completedFuture(null);
            if (value != null && read != null && L2Values.writable(read)) {
                if (current) {
                    written = l2Values.writeBack(store, remoteKey, value, read, entry);
                } else {
                    metrics.l2Superseded.increment();
                }
            } else if (error == null && value == null && read != null && read.value() != null && current) {
                // The source has no value where L2 still has one (a refresh, or a corrupt value,
                // found the key gone): retire it, or every instance keeps serving the deleted value.
                written = store.invalidate(remoteKey);
            } else if (error == null && value == null && leaseToken != null && L2Values.writable(read) && current) {
                // The lease holder found nothing: say so, fenced, for as long as anyone may wait on
                // the lease, so the waiters take the absence instead of each loading in turn.
                written = store.putAbsentIfVersion(remoteKey, Objects.requireNonNull(read), leaseTtl);
            }
            if (leaseToken != null) {
                // after the write, so that waiters polling L2 find the value rather than the lease free
                written.whenComplete((w, e) -> store.releaseLease(remoteKey, leaseToken));
            }
            if (error != null) {
                throw error instanceof CompletionException ce ? ce : new CompletionException(error);
            }
            return entry;
        });
    }

    /** Removes entries past their lifetime; runs on the shared sweeper thread. */
    private void sweepExpired() {
        try {
            long now = ticker.read();
            for (Map.Entry<K, CacheEntry<V>> e : l1.asMap().entrySet()) {
                CacheEntry<V> entry = e.getValue();
                if (now - entry.expiresAt() >= 0 && l1.asMap().remove(e.getKey(), entry)) {
                    metrics.expirations.increment();
                }
            }
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

    /**
     * Tells other instances. With the version unknown (L2 failed) every instance drops its entry:
     * {@code Long.MAX_VALUE} is newer than anything they hold.
     */
    private void publishInvalidation(String remoteKey, @Nullable Long version) {
        InvalidationBus b = bus;
        if (b != null) {
            b.publish(remoteKey, version == null ? Long.MAX_VALUE : version);
            metrics.invalidationsSent.increment();
        }
    }

    private void publishRepaired(String remoteKey, long version) {
        InvalidationBus b = bus;
        if (b != null) {
            b.publishRepaired(remoteKey, version);
            metrics.invalidationsSent.increment();
        }
    }

    /** Applies other instances' invalidations to L1. */
    private final class BusListener implements InvalidationBus.Listener {
        @Override
        public void invalidated(String encodedKey, long version) {
            metrics.invalidationsReceived.increment();
            if (remote != null && version == Long.MAX_VALUE) { // its L2 did not take it
                trust.keyNotTaken(encodedKey);
            }
            K key;
            try {
                key = Objects.requireNonNull(Objects.requireNonNull(keyDecoder).apply(encodedKey));
            } catch (RuntimeException e) {
                log.warn("cache '{}': cannot decode an invalidated key; flushing L1 to be safe", name, e);
                messagesMayHaveBeenLost();
                return;
            }
            loading.compute(key, (k, inFlight) -> {
                CacheEntry<V> entry = l1.getIfPresent(k);
                if (inFlight == null && entry != null && entry.version() >= version) {
                    metrics.invalidationsIgnored.increment(); // late or replayed: ours is as new or newer
                    return null;
                }
                // Older, unknown, or a load in flight that may have read the old value: drop both.
                l1.invalidate(k);
                return null;
            });
        }

        @Override
        public void repaired(String encodedKey, long version) {
            trust.keyRepaired(encodedKey);
            invalidated(encodedKey, version);
        }

        @Override
        public void flushRequested() {
            trust.cleared(); // a clear L2 took (possibly the repair of one it did not)
            messagesMayHaveBeenLost();
        }

        @Override
        public void clearNotTakenByL2() {
            trust.clearNotTaken();
            messagesMayHaveBeenLost();
        }

        @Override
        @SuppressWarnings("FutureReturnValueIgnored") // the callback flushes whatever the answer
        public void messagesMayHaveBeenLost() {
            // The lost messages may include a clear: until L2 has said, nothing L1 or L2 holds is
            // served (flushesPending), then L1 is flushed; so no read after this call returns a value
            // an invalidation or clear it missed retired, and none refills L1 with one meanwhile.
            trust.flushStarted();
            learnClears(true);
        }
    }

    /** The registration of a put: loads and refreshes never replace it (see {@link #refresh}). */
    private static final class PutInFlight<V> extends CompletableFuture<CacheEntry<V>> {}

    private static ReentrantLock[] newLocks(int n) {
        ReentrantLock[] locks = new ReentrantLock[n];
        for (int i = 0; i < n; i++) {
            locks[i] = new ReentrantLock();
        }
        return locks;
    }

    /**
     * Asks L2 whether another instance cleared it (once a second, and when the bus announces a flush);
     * if so, L1 is flushed too, since it may hold values read from L2 before the clear. With {@code
     * flushAnyway}, L1 is flushed once whatever L2 answers (or if it does not), after the answer.
     * Flushes run on the executor, never on the Redis I/O thread.
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles every outcome; a failure retries next second
    private void learnClears(boolean flushAnyway) {
        GuardedRemoteStore store = remote;
        if (store == null) {
            if (flushAnyway) {
                flushLocally();
                trust.flushDone();
            }
            return;
        }
        CompletableFuture<Boolean> answer;
        try {
            answer = store.refreshClears();
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        answer.whenCompleteAsync(
                (cleared, error) -> {
                    if (Boolean.TRUE.equals(cleared)) {
                        log.info("cache '{}': L2 was cleared by another instance; L1 flushed", name);
                        flushLocally();
                    } else if (flushAnyway) {
                        flushLocally();
                    }
                    if (flushAnyway) {
                        trust.flushDone(); // after the flush: no old entry is served between
                    }
                },
                flushExecutor());
    }

    /** The executor, or the calling thread if it refuses (shut down): a pending flush must end. */
    private Executor flushExecutor() {
        return task -> {
            try {
                executor.execute(task);
            } catch (RuntimeException e) {
                task.run();
            }
        };
    }

    @Override
    public String toString() {
        return "TieredCache[" + name + ", l1=" + estimatedSize() + " entries, l2=" + (remote != null) + "]";
    }
}
