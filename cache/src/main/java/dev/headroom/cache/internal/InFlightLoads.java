package dev.headroom.cache.internal;

import dev.headroom.cache.CacheLoadException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads, refreshes and puts in flight: one registration per key. A reader that misses joins the
 * registered one. Whatever is registered installs its result in L1 only while it is still the
 * key's registration, under this map's lock for the key; invalidations, puts and flushes
 * unregister it under the same lock, so a load that began before them never installs.
 *
 * <p>Thread-safe; waiters are completed outside the lock, so their continuations never run under it.
 */
public final class InFlightLoads<K, V> {

    private static final Logger log = LoggerFactory.getLogger(InFlightLoads.class);

    /**
     * What a background refresh completes with when it finds the key invalidated or gone elsewhere:
     * L1 drops the entry, and a read that joined the refresh loads again instead of taking it for
     * an absence. Never installed, never returned.
     */
    private static final CacheEntry<?> DROPPED = new CacheEntry<>(null, 0, 0, 0, -1);

    private final ConcurrentHashMap<K, CompletableFuture<CacheEntry<V>>> loading = new ConcurrentHashMap<>();
    private final String name;
    private final L1Tier<K, V> l1;
    private final L2Trust trust;
    private final CacheMetrics metrics;
    private final long loadTimeoutNanos;

    public InFlightLoads(String name, L1Tier<K, V> l1, L2Trust trust, CacheMetrics metrics, long loadTimeoutNanos) {
        this.name = name;
        this.l1 = l1;
        this.trust = trust;
        this.metrics = metrics;
        this.loadTimeoutNanos = loadTimeoutNanos;
    }

    /** A load future for a key, and whether the caller registered it and must run the load. */
    public record Registration<V>(CompletableFuture<CacheEntry<V>> future, boolean owner) {}

    /** The registration of a put: loads and refreshes never replace it. */
    private static final class PutInFlight<V> extends CompletableFuture<CacheEntry<V>> {}

    /** The "refresh found the key gone" completion; see {@link #isDropped}. */
    @SuppressWarnings("unchecked")
    public static <V> CacheEntry<V> dropped() {
        return (CacheEntry<V>) DROPPED;
    }

    /** Whether a registration completed with {@link #dropped()}: its joiners must load again. */
    @SuppressWarnings("ReferenceEquality") // a sentinel
    public static boolean isDropped(@Nullable CacheEntry<?> entry) {
        return entry == DROPPED;
    }

    /**
     * Joins the key's load in flight, or registers a new one that the caller must run ({@link
     * Registration#owner()}) — unless a load finished between the caller's L1 read and now, whose
     * entry then completes the returned future at once.
     */
    public Registration<V> register(K key) {
        CompletableFuture<CacheEntry<V>> inFlight = loading.get(key);
        if (inFlight == null) {
            CompletableFuture<CacheEntry<V>> mine = new CompletableFuture<>();
            inFlight = loading.putIfAbsent(key, mine);
            if (inFlight == null) {
                CacheEntry<V> current = l1.getIfPresent(key);
                if (current != null && L1Tier.alive(current, l1.now()) && !trust.flushUnderWay()) {
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

    /** Registers {@code mine} if nothing is in flight for the key; returns what is, or null if {@code mine} now is. */
    public @Nullable CompletableFuture<CacheEntry<V>> registerIfIdle(K key, CompletableFuture<CacheEntry<V>> mine) {
        return loading.putIfAbsent(key, mine);
    }

    /** Whether {@code registration} (null: none, always current) is still the key's. */
    @SuppressWarnings("ReferenceEquality") // identity: is the registration still this load's?
    public boolean isCurrent(K key, @Nullable CompletableFuture<CacheEntry<V>> registration) {
        return registration == null || loading.get(key) == registration;
    }

    /**
     * Runs a registered load and finishes it, whatever the load does (even throw). Bounded: a load
     * that never completes must not wedge its key (every later reader would join it and time out,
     * and the loader would never be called again). At loadTimeout the registration ends with a
     * failure and the next reader starts a new load; the abandoned load, if it ever finishes,
     * installs nothing.
     */
    @SuppressWarnings("FutureReturnValueIgnored") // finish is the whole reaction, whatever the outcome
    public void run(K key, CompletableFuture<CacheEntry<V>> mine, Supplier<CompletableFuture<CacheEntry<V>>> load) {
        CompletableFuture<CacheEntry<V>> started;
        try {
            started = load.get();
        } catch (RuntimeException | Error e) { // the registration must be finished whatever happens
            started = CompletableFuture.failedFuture(e);
        }
        CompletableFuture<CacheEntry<V>> bounded =
                started.isDone() ? started : Timeouts.shared().within(started, loadTimeoutNanos);
        bounded.whenComplete((entry, error) -> finish(key, mine, entry, abandonedIfTimedOut(error)));
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
     * completes the load's waiters.
     */
    @SuppressWarnings("ReferenceEquality") // identity: is the registration still this load's?
    public void finish(
            K key, CompletableFuture<CacheEntry<V>> mine, @Nullable CacheEntry<V> entry, @Nullable Throwable error) {
        try {
            @Nullable RuntimeException[] notCached = {null};
            loading.computeIfPresent(key, (k, registered) -> {
                if (registered != mine) {
                    return registered; // invalidated or superseded meanwhile: the waiters get it, L1 does not
                }
                if (error == null) {
                    notCached[0] = l1.install(k, isDropped(entry) ? null : entry);
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
     * Installs a put's entry at once, unregistering any load in flight (it holds older data).
     *
     * @return what Caffeine or the weigher threw, if the entry was not cached
     */
    public @Nullable RuntimeException installPut(K key, CacheEntry<V> entry) {
        @Nullable RuntimeException[] notCached = {null};
        loading.compute(key, (k, inFlight) -> {
            notCached[0] = l1.install(k, entry);
            return null;
        });
        return notCached[0];
    }

    /**
     * Registers a put, superseding a load in flight (it will not install). An invalidation that
     * arrives before {@link #finishPut} unregisters it, and the put then installs nothing.
     */
    public CompletableFuture<CacheEntry<V>> registerPut(K key) {
        CompletableFuture<CacheEntry<V>> mine = new PutInFlight<>();
        loading.put(key, mine);
        return mine;
    }

    /**
     * Installs a put's entry if the put is still registered, unregisters it and completes the readers
     * that joined it (with the entry; null: the put failed).
     *
     * @return what Caffeine or the weigher threw, if the entry was not cached
     */
    @SuppressWarnings("ReferenceEquality") // identity: is the registration still this put's?
    public @Nullable RuntimeException finishPut(
            K key, CompletableFuture<CacheEntry<V>> mine, @Nullable CacheEntry<V> entry) {
        @Nullable RuntimeException[] notCached = {null};
        try {
            if (entry != null) {
                loading.computeIfPresent(key, (k, registered) -> {
                    if (registered != mine) {
                        return registered;
                    }
                    notCached[0] = l1.install(k, entry);
                    return null;
                });
            }
        } finally {
            loading.remove(key, mine);
            if (entry != null) {
                mine.complete(entry);
            } else {
                mine.completeExceptionally(new CacheLoadException(name, new IllegalStateException("put failed")));
            }
        }
        return notCached[0];
    }

    /** Drops a key from L1 and unregisters its load in flight, which then never installs. */
    public void drop(K key) {
        loading.compute(key, (k, inFlight) -> {
            l1.remove(k);
            return null;
        });
    }

    /**
     * Applies another instance's invalidation of {@code version}: drops the key's entry and load in
     * flight unless nothing is in flight and L1 holds that version or a newer one (a late or replayed
     * message).
     *
     * @return false if the message was ignored as late
     */
    public boolean dropIfNotNewer(K key, long version) {
        boolean[] dropped = {true};
        loading.compute(key, (k, inFlight) -> {
            CacheEntry<V> entry = l1.getIfPresent(k);
            if (inFlight == null && entry != null && entry.version() >= version) {
                dropped[0] = false; // ours is as new or newer
                return null;
            }
            // Older, unknown, or a load in flight that may have read the old value: drop both.
            l1.remove(k);
            return null;
        });
        return dropped[0];
    }

    /**
     * Unregisters every load, put and refresh in flight: none installs, and no later read joins one.
     * Their waiters still get their results.
     */
    public void unregisterAll() {
        loading.clear();
    }

    /** Empties L1; loads in flight are unregistered first, so none installs what it read before. */
    public void flush() {
        loading.clear();
        l1.flush();
    }
}
