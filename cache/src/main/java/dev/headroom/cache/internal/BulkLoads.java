package dev.headroom.cache.internal;

import dev.headroom.cache.BulkCacheLoader;
import dev.headroom.cache.RemoteValue;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Bulk loads of L1 misses: keys another caller is loading are joined; the others are registered,
 * read from L2 in one pipelined batch, and what L2 lacks goes to the bulk loader in one call, written
 * back fenced on the versions read first.
 *
 * <p>Thread-safe.
 */
public final class BulkLoads<K, V> {

    private final BulkCacheLoader<K, V> bulk;
    private final InFlightLoads<K, V> inFlight;
    private final @Nullable L2Tier<K, V> l2;
    private final Loads<K, V> loads;
    private final Entries<V> entries;
    private final CacheMetrics metrics;

    public BulkLoads(
            BulkCacheLoader<K, V> bulk,
            InFlightLoads<K, V> inFlight,
            @Nullable L2Tier<K, V> l2,
            Loads<K, V> loads,
            Entries<V> entries,
            CacheMetrics metrics) {
        this.bulk = bulk;
        this.inFlight = inFlight;
        this.l2 = l2;
        this.loads = loads;
        this.entries = entries;
        this.metrics = metrics;
    }

    /**
     * Loads {@code missing} (L1 misses) and waits for all of them, at most {@code loadTimeout}.
     *
     * @param reload loads one key again through the single-key path: for a key whose joined
     *     refresh found it gone
     * @return each key's value, null where there is none
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the bulk load's callback finishes every registration itself
    public Map<K, @Nullable V> load(Set<K> missing, Function<K, CompletableFuture<@Nullable V>> reload) {
        metrics.l1Misses.add(missing.size());
        Map<K, CompletableFuture<CacheEntry<V>>> waits = new LinkedHashMap<>();
        Map<K, CompletableFuture<CacheEntry<V>>> owned = new HashMap<>();
        @Nullable CompletableFuture<Map<K, CacheEntry<V>>> bulkLoad;
        try {
            for (K key : missing) {
                InFlightLoads.Registration<V> r = inFlight.register(key);
                waits.put(key, r.future());
                if (r.owner()) {
                    owned.put(key, r.future());
                }
            }
            bulkLoad = owned.isEmpty() ? null : loadThrough(owned.keySet());
        } catch (RuntimeException | Error e) { // registrations taken so far must be finished
            owned.forEach((key, mine) -> inFlight.finish(key, mine, null, e));
            throw e;
        }
        if (bulkLoad != null) {
            bulkLoad.whenComplete((loaded, error) -> owned.forEach(
                    (key, mine) -> inFlight.finish(key, mine, error == null ? loaded.get(key) : null, error)));
        }
        loads.await(CompletableFuture.allOf(waits.values().toArray(new CompletableFuture<?>[0])));
        Map<K, @Nullable V> found = new LinkedHashMap<>();
        waits.forEach((key, f) -> {
            CacheEntry<V> entry = f.join();
            found.put(
                    key,
                    InFlightLoads.isDropped(entry)
                            ? loads.await(reload.apply(key))
                            : entry == null ? null : entry.value());
        });
        return found;
    }

    /** Reads all of {@code keys} from L2 at once (pipelined), bulk-loads the rest, writes them back fenced. */
    private CompletableFuture<Map<K, CacheEntry<V>>> loadThrough(Set<? extends K> keys) {
        L2Tier<K, V> tier = l2;
        List<K> list = new ArrayList<>(keys);
        List<CompletableFuture<@Nullable RemoteValue>> reads = new ArrayList<>(list.size());
        for (K key : list) {
            if (tier == null) {
                reads.add(CompletableFuture.completedFuture(null));
            } else {
                String remoteKey = tier.remoteKey(key);
                reads.add(tier.read(remoteKey).thenApply(read -> tier.trust.withoutSuspectValue(remoteKey, read)));
            }
        }
        return CompletableFuture.allOf(reads.toArray(new CompletableFuture<?>[0]))
                .thenCompose(ignored -> {
                    Map<K, CacheEntry<V>> loaded = new HashMap<>();
                    Map<K, @Nullable RemoteValue> versions = new HashMap<>(); // null: unknown
                    for (int i = 0; i < list.size(); i++) {
                        K key = list.get(i);
                        RemoteValue read = reads.get(i).join();
                        if (read != null && read.value() != null) {
                            CacheEntry<V> hit =
                                    Objects.requireNonNull(tier).values.l2Hit(read);
                            if (hit != null) {
                                loaded.put(key, hit);
                                continue;
                            }
                        } else if (read != null) {
                            metrics.l2Misses.increment();
                        }
                        versions.put(key, read);
                    }
                    if (versions.isEmpty()) {
                        return CompletableFuture.completedFuture(loaded);
                    }
                    return loads.callBulk(bulk, versions.keySet())
                            .thenApply(values -> writeBack(tier, versions, values, loaded));
                });
    }

    /** Adds the bulk loader's {@code values} to {@code loaded}, writing each back fenced on its version read. */
    @SuppressWarnings(
            "FutureReturnValueIgnored") // write-backs are best effort; GuardedRemoteStore counts their failures
    private Map<K, CacheEntry<V>> writeBack(
            @Nullable L2Tier<K, V> tier,
            Map<K, @Nullable RemoteValue> versions,
            Map<K, V> values,
            Map<K, CacheEntry<V>> loaded) {
        for (Map.Entry<K, @Nullable RemoteValue> e : versions.entrySet()) {
            K key = e.getKey();
            RemoteValue read = e.getValue();
            V value = values.get(key);
            CacheEntry<V> entry = entries.toEntry(new Loads.Loaded<>(value, 0), L2Values.versionOf(read));
            if (value != null && tier != null && L2Values.writable(read)) {
                tier.values.writeBack(
                        tier.store, tier.remoteKey(key), value, Objects.requireNonNull(read), null, entry);
            }
            if (entry != null) {
                loaded.put(key, entry);
            }
        }
        return loaded;
    }
}
