package dev.headroom.cache.internal;

import dev.headroom.cache.RemoteValue;
import dev.headroom.core.Codec;
import dev.headroom.core.CodecException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A cache's values on their way to and from L2: encoding under the size limit, decoding (corrupt
 * bytes count as a miss), the age of what L2 returns (an entry filled from L2 lives only what is
 * left of its life counted from its Redis write), and the fenced write-back of a loaded value.
 *
 * @param <V> the value type
 */
public final class L2Values<V> {
    private static final Logger log = LoggerFactory.getLogger(L2Values.class);

    private final String name;
    private final @Nullable Codec<V> codec;
    private final int maxBytes;
    private final Duration l2Ttl;
    private final long lifetimeNanos;
    private final CacheMetrics metrics;
    private final Entries<V> entries;

    @SuppressWarnings("TooManyParameters") // one per L2 setting of the builder
    public L2Values(
            String name,
            @Nullable Codec<V> codec,
            int maxBytes,
            Duration l2Ttl,
            long lifetimeNanos,
            CacheMetrics metrics,
            Entries<V> entries) {
        this.name = name;
        this.codec = codec;
        this.maxBytes = maxBytes;
        this.l2Ttl = l2Ttl;
        this.lifetimeNanos = lifetimeNanos;
        this.metrics = metrics;
        this.entries = entries;
    }

    /** Whether a loaded value may be written back over what was read: known, and not foreign. */
    public static boolean writable(@Nullable RemoteValue read) {
        return read != null && read.version() >= 0;
    }

    /** The version an L1 entry carries: -1 when L2 did not say. */
    public static long versionOf(@Nullable RemoteValue read) {
        return read == null ? -1 : read.version();
    }

    /** L2 failures are already counted by the guard; callers treat them as "no answer". */
    public static <T> CompletableFuture<@Nullable T> orNullOnFailure(CompletableFuture<T> call) {
        return call.handle((value, error) -> error != null ? null : value);
    }

    /** An L1 entry for a value read from L2 (counted as an L2 hit), or null if its bytes are corrupt or it is past its whole life. */
    public @Nullable CacheEntry<V> l2Hit(RemoteValue read) {
        return l2Hit(read, 0);
    }

    /** As {@link #l2Hit(RemoteValue)}, the entry keeping {@code loadNanos} as its load cost for XFetch. */
    public @Nullable CacheEntry<V> l2Hit(RemoteValue read, long loadNanos) {
        V decoded = decode(Objects.requireNonNull(read.value()));
        if (decoded == null) {
            return null;
        }
        // As old as when it was written, not as new as this read: an L1 entry filled from L2 must not
        // outlive a value loaded at that moment (the store's clock against ours: NTP-close).
        long ageNanos = read.writtenAtMillis() <= 0
                ? 0
                : TimeUnit.MILLISECONDS.toNanos(Math.max(0, System.currentTimeMillis() - read.writtenAtMillis()));
        if (ageNanos >= lifetimeNanos) {
            return null; // past its whole life: load instead, and overwrite it fenced
        }
        metrics.l2Hits.increment();
        return entries.newEntry(decoded, loadNanos, read.version(), ageNanos);
    }

    /** The decoded value; null (counted as corrupt) if the codec refuses the bytes. */
    public @Nullable V decode(byte[] bytes) {
        try {
            return Objects.requireNonNull(codec).decode(bytes);
        } catch (CodecException | NullPointerException e) {
            metrics.l2Corrupt.increment();
            log.debug("cache '{}': undecodable L2 value treated as a miss", name, e);
            return null;
        }
    }

    /**
     * Writes a loaded value back to L2, fenced on what was {@code read} (and on the lease {@code
     * leaseToken}, if the load holds one); the entry made of it learns
     * the version it was written with, so it later knows that L2 value for its own (a refresh then
     * does not mistake it for a newer one written by another instance).
     *
     * @return the version written, or 0 if nothing was (fenced, not encodable, too large); fails if
     *     L2 did not answer
     */
    public CompletableFuture<Long> writeBack(
            GuardedRemoteStore store,
            String remoteKey,
            V value,
            RemoteValue read,
            @Nullable String leaseToken,
            @Nullable CacheEntry<V> entry) {
        byte[] bytes = encodeForL2(value);
        if (bytes == null) {
            return CompletableFuture.completedFuture(0L);
        }
        return store.putIfVersion(remoteKey, bytes, read, leaseToken, l2Ttl).whenComplete((written, error) -> {
            if (error != null) {
                return;
            }
            if (written <= 0) {
                metrics.l2FencedWrites.increment();
            } else if (entry != null) {
                entry.written(written);
            }
        });
    }

    /** The encoded value; null (counted) if the codec fails or it is larger than {@code maxL2ValueBytes}. */
    public byte @Nullable [] encodeForL2(V value) {
        byte[] bytes;
        try {
            bytes = Objects.requireNonNull(Objects.requireNonNull(codec).encode(value), "the codec encoded to null");
        } catch (RuntimeException e) { // CodecException, a codec that throws something else or answers null
            metrics.l2Errors.increment();
            log.debug("cache '{}': value not encodable for L2; kept in L1 only", name, e);
            return null;
        }
        if (bytes.length > maxBytes) {
            metrics.l2Oversize.increment();
            return null;
        }
        return bytes;
    }
}
