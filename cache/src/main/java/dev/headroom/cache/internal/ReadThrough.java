package dev.headroom.cache.internal;

import dev.headroom.cache.AsyncCacheLoader;
import dev.headroom.cache.RemoteValue;
import dev.headroom.core.Ticker;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * One key's load below L1: from L2 if it has a decodable value, else from the loader — once per
 * cluster, under the key's lease — writing the result back to L2 fenced on the version read first.
 * Without an L2, just the loader.
 *
 * <p>Thread-safe; each load's state lives in its own {@link Attempt}.
 */
public final class ReadThrough<K, V> {

    private final Loads<K, V> loads;
    private final Entries<V> entries;
    private final InFlightLoads<K, V> inFlight;
    private final @Nullable L2Tier<K, V> l2;
    private final Ticker ticker;
    private final CacheMetrics metrics;

    public ReadThrough(
            Loads<K, V> loads,
            Entries<V> entries,
            InFlightLoads<K, V> inFlight,
            @Nullable L2Tier<K, V> l2,
            Ticker ticker,
            CacheMetrics metrics) {
        this.loads = loads;
        this.entries = entries;
        this.inFlight = inFlight;
        this.l2 = l2;
        this.ticker = ticker;
        this.metrics = metrics;
    }

    /** Calls the loader alone (no L2 involved); completes with null for an absence not to cache. */
    public CompletableFuture<CacheEntry<V>> loadOnly(K key, AsyncCacheLoader<K, V> loader) {
        return loads.call(key, loader).thenApply(loaded -> entries.toEntry(loaded, -1));
    }

    /**
     * Loads a key: from L2 if it has a decodable value (unless {@code bypassL2Value}, or an
     * invalidation L2 has not taken yet makes it suspect), else from the loader once per cluster.
     * Completes with null for an absence that is not to be cached.
     *
     * @param registration the key's registration this load runs for; it writes nothing to L2 once
     *     superseded
     */
    public CompletableFuture<CacheEntry<V>> load(
            K key,
            AsyncCacheLoader<K, V> loader,
            boolean bypassL2Value,
            CompletableFuture<CacheEntry<V>> registration) {
        L2Tier<K, V> tier = l2;
        if (tier == null) {
            return loadOnly(key, loader);
        }
        Attempt a = new Attempt(tier, key, loader, registration);
        boolean bypass = bypassL2Value || tier.trust.suspect(a.remoteKey);
        return tier.read(a.remoteKey).thenCompose(read -> {
            if (read != null && read.value() != null && !bypass) {
                CacheEntry<V> hit = tier.values.l2Hit(read);
                if (hit != null) {
                    return CompletableFuture.completedFuture(hit);
                }
            } else if (read != null && !bypass) {
                metrics.l2Misses.increment();
            }
            // A corrupt value (present but undecodable) would make every lease request fail:
            // repair it with a direct, fenced load instead.
            boolean corrupt = read != null && read.value() != null;
            if (read == null || bypass || tier.leaseTtl.isZero() || corrupt) {
                return a.loadAndWriteBack(read, null);
            }
            return a.loadOncePerCluster(read, a.leaseDeadline(), false);
        });
    }

    /** Starts a load of {@code key} through {@code l2} for {@code registration}. */
    public Attempt attempt(
            L2Tier<K, V> l2, K key, AsyncCacheLoader<K, V> loader, CompletableFuture<CacheEntry<V>> registration) {
        return new Attempt(l2, key, loader, registration);
    }

    /** One load of one key through L2: what every step of the lease loop needs. */
    public final class Attempt {
        private final L2Tier<K, V> tier;
        private final K key;
        private final AsyncCacheLoader<K, V> loader;
        /** The key's L2 key. */
        public final String remoteKey;

        private final CompletableFuture<CacheEntry<V>> registration;

        Attempt(
                L2Tier<K, V> tier,
                K key,
                AsyncCacheLoader<K, V> loader,
                CompletableFuture<CacheEntry<V>> registration) {
            this.tier = tier;
            this.key = key;
            this.loader = loader;
            this.remoteKey = tier.remoteKey(key);
            this.registration = registration;
        }

        /** When waiting for another instance's lease stops and this one loads regardless. */
        public long leaseDeadline() {
            return ticker.read() + tier.leaseTtl.toNanos();
        }

        /**
         * Cluster-wide coalescing: take the key's lease and load, or wait for the holder's value by
         * polling L2 (retrying the lease, so a holder that failed or died is replaced) until the lease
         * time has passed, then load regardless. An L2 error at any step means "load now".
         */
        CompletableFuture<CacheEntry<V>> loadOncePerCluster(RemoteValue read, long deadline, boolean waited) {
            return underLease(
                    read,
                    deadline,
                    waited,
                    token -> tier.store.tryLease(remoteKey, token, tier.leaseTtl, read),
                    again -> {
                        if (again.foundAbsent() && again.version() != read.version()) {
                            // the holder found nothing: absent, at the version read (so an invalidation
                            // message still drops an absence cached for negativeTtl)
                            metrics.clusterFills.increment();
                            return CompletableFuture.completedFuture(
                                    entries.toEntry(new Loads.Loaded<>(null, 0), read.version()));
                        }
                        if (again.value() == null) {
                            return loadOncePerCluster(again, deadline, true);
                        }
                        CacheEntry<V> hit = tier.values.l2Hit(again);
                        if (hit == null) { // corrupt: repair with a direct, fenced load
                            return loadAndWriteBack(again, null);
                        }
                        metrics.clusterFills.increment();
                        return CompletableFuture.completedFuture(hit);
                    });
        }

        /**
         * Takes the key's lease ({@code tryLease} with a fresh token) and loads; or, while another holds
         * it, polls L2 and lets {@code onPoll} decide what the new read means (it waits again by calling
         * back here), loading regardless once the lease time has passed. No answer to the lease request
         * means "load now": Redis may still have granted it (the reply was late), so the load writes
         * back fenced on what was read and releases what it may hold, and the others find the value or
         * the lease free.
         */
        public CompletableFuture<CacheEntry<V>> underLease(
                RemoteValue read,
                long deadline,
                boolean waited,
                Function<String, CompletableFuture<Boolean>> tryLease,
                Function<RemoteValue, CompletableFuture<CacheEntry<V>>> onPoll) {
            String token = Long.toHexString(ThreadLocalRandom.current().nextLong());
            return L2Values.orNullOnFailure(tryLease.apply(token)).thenCompose(acquired -> {
                if (acquired == null || acquired) {
                    return loadAndWriteBack(read, token);
                }
                if (ticker.read() - deadline >= 0) {
                    metrics.leaseTimeouts.increment();
                    return loadAndWriteBack(read, null);
                }
                if (!waited) {
                    metrics.clusterWaits.increment();
                }
                return CompletableFuture.runAsync(() -> {}, tier.pollDelay)
                        .thenCompose(ignored -> tier.read(remoteKey))
                        .thenCompose(again -> again == null ? loadAndWriteBack(null, null) : onPoll.apply(again));
            });
        }

        /**
         * Calls the loader, writes a value back fenced on what was {@code read} (null: L2 did not
         * answer, so never write back), then releases the lease {@code leaseToken} if held.
         */
        // FutureReturnValueIgnored: the lease release is best effort (an unreleased lease expires on its own)
        @SuppressWarnings("FutureReturnValueIgnored")
        public CompletableFuture<CacheEntry<V>> loadAndWriteBack(
                @Nullable RemoteValue read, @Nullable String leaseToken) {
            GuardedRemoteStore store = tier.store;
            return loads.call(key, loader).handle((loaded, error) -> {
                // A load superseded meanwhile (by a put, an invalidation, a clear) may have read L2 after
                // the newer write, so the version fence alone would let it through: it writes nothing.
                boolean current = inFlight.isCurrent(key, registration);
                V value = loaded == null ? null : loaded.value;
                CacheEntry<V> entry = error == null ? entries.toEntry(loaded, L2Values.versionOf(read)) : null;
                CompletableFuture<?> written = CompletableFuture.completedFuture(null);
                if (value != null && read != null && L2Values.writable(read)) {
                    if (current) {
                        written = tier.values.writeBack(store, remoteKey, value, read, leaseToken, entry);
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
                    written = store.putAbsentIfVersion(
                            remoteKey, Objects.requireNonNull(read), leaseToken, tier.leaseTtl);
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
    }
}
