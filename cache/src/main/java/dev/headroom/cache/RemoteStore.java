package dev.headroom.cache;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The shared second tier of a {@link TieredCache}: bytes by string key, with a per-key version that
 * fences writes. Redis through Lettuce is {@link dev.headroom.cache.redis.RedisRemoteStore}; implement this to use another
 * store.
 *
 * <p>Contract: every method is non-blocking and thread-safe; failures are reported through the
 * returned stage, never thrown. The cache bounds each call with its own timeout and circuit breaker,
 * so an implementation need not. Keys passed in are already prefixed by the implementation's own
 * scheme; {@link #clear()} removes only this store's keys.
 *
 * <p>Versions make a slow load safe: the cache reads a key's version before loading and writes the
 * loaded value with {@link #putIfVersion}; an invalidation in between bumps the version, so the older
 * value is not written.
 *
 * <p>Versions must only grow per key, also across the loss of the key's record (expiry, eviction, a
 * flush, a restart): instances compare the version an invalidation carries with the one their L1
 * entry came with, and ignore an invalidation that is not newer. A store that restarted its count
 * at 1 would have its new writes ignored by instances that hold an older, higher-numbered value.
 */
public interface RemoteStore extends AutoCloseable {

    /**
     * Reads a key's value and version in one atomic step.
     *
     * @param key the cache key, encoded
     * @return the value and version; {@link RemoteValue#ABSENT} for an unknown key
     */
    CompletionStage<RemoteValue> get(String key);

    /**
     * Writes a loaded value only if the key is still as {@code read} found it: same version, and no
     * newer generation. A value written with a generation older than the store's latest {@linkplain
     * #clear() clear} must never be returned by a read made after that clear.
     *
     * @param key the cache key, encoded
     * @param value the encoded value
     * @param read what {@link #get} returned before loading
     * @param ttl how long the store keeps the value
     * @return the version the value was written with (greater than {@code read}'s, so a second
     *     write fenced on the same read is refused), or 0 if it was not written
     */
    CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl);

    /**
     * As {@link #putIfVersion(String, byte[], RemoteValue, Duration)}, by the holder of the key's
     * {@linkplain #tryLease(String, String, Duration, RemoteValue) lease}: when {@code read} found no
     * record (version 0), the value is written only while {@code leaseToken} still holds the lease.
     * Every {@link #put} and {@link #invalidate} ends the key's lease. So the fence holds even when the
     * record of a write made during the load is lost before the write-back (evicted under {@code
     * maxmemory}, flushed, not persisted across a restart), which would otherwise leave the key
     * absent again, at version 0, as the load read it. The default ignores the token.
     *
     * @param key the cache key, encoded
     * @param value the encoded value
     * @param read what {@link #get} returned before loading
     * @param leaseToken the token the lease was taken with
     * @param ttl how long the store keeps the value
     * @return the version written, or 0 if nothing was
     */
    default CompletionStage<Long> putIfVersion(
            String key, byte[] value, RemoteValue read, String leaseToken, Duration ttl) {
        return putIfVersion(key, value, read, ttl);
    }

    /**
     * Records, fenced like {@link #putIfVersion(String, byte[], RemoteValue, String, Duration)} (so
     * also on the lease when {@code read} found no record), that a load under the key's lease found
     * no value in the source, for a short {@code ttl}: reads then return {@link
     * RemoteValue#foundAbsent}, so the instances waiting on the lease take the absence instead of
     * each loading in turn. The record must not block a later lease. The default records nothing
     * (answers 0): waiters load.
     *
     * @param key the cache key, encoded
     * @param read what {@link #get} returned before loading
     * @param leaseToken the token the lease was taken with
     * @param ttl how long the record lives
     * @return the version written, or 0 if nothing was
     */
    default CompletionStage<Long> putAbsentIfVersion(String key, RemoteValue read, String leaseToken, Duration ttl) {
        return CompletableFuture.completedFuture(0L);
    }

    /**
     * Writes a value unconditionally, bumps the key's version and ends the key's lease (an explicit
     * {@code put}).
     *
     * @param key the cache key, encoded
     * @param value the encoded value
     * @param ttl how long the store keeps the value
     * @return the key's new version
     */
    CompletionStage<Long> put(String key, byte[] value, Duration ttl);

    /**
     * Removes a key's value, bumps its version and ends the key's lease, so that loads already in
     * flight cannot write.
     *
     * @param key the cache key, encoded
     * @return the key's new version
     */
    CompletionStage<Long> invalidate(String key);

    /**
     * Makes every value of this store (and only those) unreadable: after it completes, this store
     * object's reads miss every value written before, and loads that read before it cannot write
     * values readable after it. Other store objects on the same data learn of it through {@link
     * #refreshClears()}. Should cost the same whatever the number of keys (Redis: a generation
     * number, one command; the old values expire by their TTL).
     *
     * @return completes when done
     */
    CompletionStage<Void> clear();

    /**
     * Learns of clears made through other store objects (other instances): after the returned stage
     * completes, reads no longer return values written before the latest clear. The cache calls it
     * about once a second and whenever another instance announces a clear, and flushes its L1 when it
     * answers true. The default does nothing, for a store whose {@link #clear()} acts on the shared
     * data directly.
     *
     * @return whether a clear this store object had not reported before has happened (also one it
     *     noticed on its own, from a value stamped after it)
     */
    default CompletionStage<Boolean> refreshClears() {
        return CompletableFuture.completedFuture(false);
    }

    /**
     * Tries to take the short load lease on a key ({@code SET NX PX} with a fencing token), so that
     * one instance in the cluster loads a missing key while the others wait for its value. Must be
     * refused, atomically, when the key already has a value: a previous holder may have written it
     * and released the lease since the caller's last read. The default grants every request: no
     * cluster-wide coalescing, each process loads once.
     *
     * @param key the cache key, encoded
     * @param token identifies this holder; only it can release the lease
     * @param ttl the lease expires by itself after this long (a holder that dies frees it)
     * @return whether this caller holds the lease (false: held by another, or the value is there)
     */
    default CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        return CompletableFuture.completedFuture(true);
    }

    /**
     * As {@link #tryLease(String, String, Duration)}, and also refused, atomically, when the key's
     * record is no longer at {@code read}'s version: a previous holder may have recorded since the
     * caller's read that the source has no value ({@link #putAbsentIfVersion}) and released the
     * lease. That record must not block a later miss's lease, so only the version tells the caller
     * it came too late to load: refused, it polls, reads the record and takes the absence. A record
     * not in the store's format (version -1) does not refuse the lease. The default ignores {@code
     * read}.
     *
     * @param key the cache key, encoded
     * @param token identifies this holder; only it can release the lease
     * @param ttl the lease expires by itself after this long (a holder that dies frees it)
     * @param read what {@link #get} returned before this request
     * @return whether this caller holds the lease (false: held by another, the value is there, or
     *     the key was written since {@code read})
     */
    default CompletionStage<Boolean> tryLease(String key, String token, Duration ttl, RemoteValue read) {
        return tryLease(key, token, ttl);
    }

    /**
     * Tries to take the same lease to refresh a key that has a value: granted only if the key is
     * still at {@code read}'s version (nobody wrote or invalidated it since) and nobody holds the
     * lease. So one instance in the cluster reloads a value due for refresh while the others keep
     * serving theirs and adopt its result. The default grants every request: each process refreshes
     * on its own.
     *
     * @param key the cache key, encoded
     * @param token identifies this holder; only it can release the lease
     * @param ttl the lease expires by itself after this long
     * @param read what {@link #get} returned just before
     * @return whether this caller holds the lease
     */
    default CompletionStage<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        return CompletableFuture.completedFuture(true);
    }

    /**
     * Releases a lease if {@code token} still holds it.
     *
     * @param key the cache key, encoded
     * @param token the holder's token
     * @return completes when done
     */
    default CompletionStage<Void> releaseLease(String key, String token) {
        return CompletableFuture.completedFuture(null);
    }

    /** Releases the store's connections, if it owns them. */
    @Override
    void close();
}
