package dev.headroom.cache.internal;

import dev.headroom.cache.AsyncCacheLoader;
import dev.headroom.cache.RemoteValue;
import dev.headroom.core.Ticker;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Background refreshes (stale-while-revalidate and early refresh). A refresh is the key's one
 * registered load: a read that misses meanwhile joins it, a put or invalidation fences its install,
 * and it does not start while another load of the key runs. With L2 it runs once per cluster: an
 * L2 value newer than the entry is adopted while still fresh; otherwise the first instance due takes
 * the key's lease, fenced on the version it read, and the others wait for its value.
 *
 * <p>Thread-safe.
 */
public final class Refreshes<K, V> {

    private static final Logger log = LoggerFactory.getLogger(Refreshes.class);

    private final String name;
    private final RefreshSlots<K> slots;
    private final InFlightLoads<K, V> inFlight;
    private final ReadThrough<K, V> readThrough;
    private final @Nullable L2Tier<K, V> l2;
    private final Ticker ticker;
    private final CacheMetrics metrics;

    public Refreshes(
            String name,
            RefreshSlots<K> slots,
            InFlightLoads<K, V> inFlight,
            ReadThrough<K, V> readThrough,
            @Nullable L2Tier<K, V> l2,
            Ticker ticker,
            CacheMetrics metrics) {
        this.name = name;
        this.slots = slots;
        this.inFlight = inFlight;
        this.readThrough = readThrough;
        this.l2 = l2;
        this.ticker = ticker;
        this.metrics = metrics;
    }

    /** Whether a hit on a fresh {@code entry} at {@code now} draws an early refresh (XFetch). */
    boolean dueEarly(CacheEntry<V> entry, long now) {
        return slots.early(entry, now);
    }

    /**
     * Refreshes {@code current} in the background unless a refresh of the key is already running or
     * waiting out its retry delay, or another load of the key is in flight (that load is the refresh).
     */
    @SuppressWarnings("FutureReturnValueIgnored") // a background refresh: its callback handles both outcomes
    public void start(K key, CacheEntry<V> current, AsyncCacheLoader<K, V> loader) {
        if (!slots.claim(key)) {
            return;
        }
        CompletableFuture<CacheEntry<V>> mine = new CompletableFuture<>();
        if (inFlight.registerIfIdle(key, mine) != null) {
            slots.release(key);
            return;
        }
        mine.whenComplete((entry, error) -> {
            if (error != null) {
                slots.failed(key);
                metrics.refreshFailures.increment();
                log.debug(
                        "cache '{}': background refresh failed; serving stale, next try after the retry delay",
                        name,
                        error);
            } else {
                metrics.refreshSuccesses.increment();
                slots.release(key);
            }
        });
        inFlight.run(key, mine, () -> refreshThrough(key, loader, current, mine));
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
        L2Tier<K, V> tier = l2;
        if (tier == null) {
            return readThrough.loadOnly(key, loader);
        }
        ReadThrough<K, V>.Attempt a = readThrough.attempt(tier, key, loader, registration);
        boolean pending = tier.trust.suspect(a.remoteKey);
        return tier.read(a.remoteKey).thenCompose(read -> {
            if (read == null || pending || !L2Values.writable(read) || tier.leaseTtl.isZero()) {
                return a.loadAndWriteBack(pending ? null : read, null);
            }
            CacheEntry<V> adopted = adoptable(tier, read, current);
            if (adopted != null) {
                return CompletableFuture.completedFuture(adopted);
            }
            if (read.value() == null && read.version() > current.version()) {
                // invalidated or found gone since the entry was made: drop it (the refresh
                // completes with nothing); the next read loads as for any miss
                return CompletableFuture.completedFuture(InFlightLoads.dropped());
            }
            if (read.value() == null) { // L2 never had it (too large, expired): refresh as a miss
                return a.loadOncePerCluster(read, a.leaseDeadline(), false);
            }
            return oncePerCluster(tier, a, read, current, a.leaseDeadline(), false);
        });
    }

    /** An L1 entry of {@code read} if it is newer than {@code current} and still fresh; else null. */
    private @Nullable CacheEntry<V> adoptable(L2Tier<K, V> tier, RemoteValue read, CacheEntry<V> current) {
        if (read.value() == null || read.version() <= current.version()) {
            return null;
        }
        CacheEntry<V> hit = tier.values.l2Hit(read, current.loadNanos());
        return hit != null && ticker.read() - hit.freshUntil() < 0 ? hit : null;
    }

    /** The refresh's side of the lease loop: waits for the holder's newer value, fenced on {@code read}. */
    private CompletableFuture<CacheEntry<V>> oncePerCluster(
            L2Tier<K, V> tier,
            ReadThrough<K, V>.Attempt a,
            RemoteValue read,
            CacheEntry<V> current,
            long deadline,
            boolean waited) {
        return a.underLease(
                read,
                deadline,
                waited,
                token -> tier.store.tryRefreshLease(a.remoteKey, token, tier.leaseTtl, read),
                again -> {
                    if (again.version() == read.version()) { // the holder is still loading
                        return oncePerCluster(tier, a, read, current, deadline, true);
                    }
                    CacheEntry<V> adopted = adoptable(tier, again, current);
                    if (adopted != null) {
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(adopted);
                    }
                    if (again.value() == null) {
                        // the holder found the key gone, or it was invalidated: drop it
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(InFlightLoads.dropped());
                    }
                    // an undecodable value, or one too old to adopt: load it ourselves
                    return a.loadAndWriteBack(again, null);
                });
    }
}
