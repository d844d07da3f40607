package dev.headroom.cache.internal;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;

/**
 * Puts: L2 first (bumping the key's version, so loads in flight elsewhere cannot overwrite the
 * value), then the other instances, then L1 — registered like a load, so an invalidation that
 * arrives before the put has installed (possibly newer in L2) makes it install nothing. Puts of one
 * key on this instance take turns (striped locks), so L1 ends with the value L2 ends with.
 *
 * <p>Thread-safe. A put blocks up to {@code l2Timeout} on L2; the lock it holds meanwhile is a
 * {@link ReentrantLock}, never a monitor.
 */
public final class Puts<K, V> {

    private final ReentrantLock[] locks = new ReentrantLock[64];
    private final InFlightLoads<K, V> inFlight;
    private final @Nullable L2Tier<K, V> l2;
    private final Invalidations<K, V> invalidations;
    private final Entries<V> entries;
    private final Loads<K, V> loads;

    public Puts(
            InFlightLoads<K, V> inFlight,
            @Nullable L2Tier<K, V> l2,
            Invalidations<K, V> invalidations,
            Entries<V> entries,
            Loads<K, V> loads) {
        this.inFlight = inFlight;
        this.l2 = l2;
        this.invalidations = invalidations;
        this.entries = entries;
        this.loads = loads;
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    /**
     * See {@code TieredCache#put}.
     *
     * @return whether L2 took the value (true without L2)
     * @throws RuntimeException what the weigher or Caffeine threw, if the value was not cached in L1
     */
    public boolean put(K key, V value) {
        L2Tier<K, V> tier = l2;
        if (tier == null) {
            rethrow(inFlight.installPut(key, entries.newEntry(value, 0, -1)));
            return true;
        }
        String remoteKey = tier.remoteKey(key);
        // Puts of one key on this instance take turns, so the one that reaches L2 last is also the
        // one installed in L1 last (two racing puts left L1 holding the value L2 had replaced).
        ReentrantLock lock = locks[(remoteKey.hashCode() & 0x7fffffff) % locks.length];
        lock.lock();
        try {
            return putThroughL2(tier, key, value, remoteKey);
        } finally {
            lock.unlock();
        }
    }

    private boolean putThroughL2(L2Tier<K, V> tier, K key, V value, String remoteKey) {
        CompletableFuture<CacheEntry<V>> mine = inFlight.registerPut(key);
        CacheEntry<V> entry = null;
        boolean tookIt;
        try {
            long version = -1;
            byte[] bytes = tier.values.encodeForL2(value);
            if (bytes == null) {
                // kept in L1 only: the old L2 value must not outlive it elsewhere
                tookIt = invalidations.invalidateL2(remoteKey);
            } else {
                Long written = loads.awaitQuietly(tier.store.put(remoteKey, bytes, tier.l2Ttl));
                if (written == null) {
                    invalidations.l2WriteFailed(remoteKey); // L2 may still hold the previous value
                } else {
                    version = written;
                }
                tookIt = written != null;
                invalidations.publish(remoteKey, written);
            }
            entry = entries.newEntry(value, 0, version);
        } finally {
            rethrow(inFlight.finishPut(key, mine, entry)); // readers that joined the put get its value
        }
        return tookIt;
    }

    private static void rethrow(@Nullable RuntimeException notCached) {
        if (notCached != null) {
            throw notCached; // the weigher's failure, for example
        }
    }
}
