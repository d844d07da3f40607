package dev.headroom.cache.internal;

import dev.headroom.cache.RemoteValue;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * The shared tier as the cache's parts see it: the guarded store, the key's string form, the
 * values' codec and fenced write-back, which keys' L2 values are not to be trusted, and the lease
 * settings. Exists only for a cache built with an L2.
 *
 * <p>Thread-safe; immutable.
 */
public final class L2Tier<K, V> {

    public final GuardedRemoteStore store;
    public final L2Values<V> values;
    public final L2Trust trust;
    public final Duration l2Ttl;
    /** How long a load may hold a key's lease; zero: no cluster-wide coalescing. */
    public final Duration leaseTtl;
    /** Runs a lease poll after the poll delay. */
    final Executor pollDelay;

    private final Function<? super K, String> keyEncoder;

    public L2Tier(
            GuardedRemoteStore store,
            Function<? super K, String> keyEncoder,
            L2Values<V> values,
            L2Trust trust,
            Duration l2Ttl,
            Duration leaseTtl,
            Duration leasePoll) {
        this.store = store;
        this.keyEncoder = keyEncoder;
        this.values = values;
        this.trust = trust;
        this.l2Ttl = l2Ttl;
        this.leaseTtl = leaseTtl;
        // The poll only issues an async L2 read: run it on the JDK's delay thread rather than on an
        // executor that blocking loaders may have saturated.
        this.pollDelay = CompletableFuture.delayedExecutor(leasePoll.toNanos(), TimeUnit.NANOSECONDS, Runnable::run);
    }

    /**
     * The key's L2 key.
     *
     * @throws IllegalArgumentException if the key encodes to null or an empty string
     */
    public String remoteKey(K key) {
        return keyEncoder.apply(key);
    }

    /** Reads a key; null if L2 did not answer (error, timeout, open breaker). */
    public CompletableFuture<@Nullable RemoteValue> read(String remoteKey) {
        return L2Values.orNullOnFailure(store.get(remoteKey));
    }
}
