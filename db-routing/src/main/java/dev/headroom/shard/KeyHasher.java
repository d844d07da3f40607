package dev.headroom.shard;

import java.util.Objects;
import java.util.UUID;

/**
 * Turns a shard key into the 64-bit hash every strategy starts from. It must be stable across
 * JVMs, platforms and releases: changing it moves keys between shards.
 *
 * <p>The built-in hashers use XXH3-64 with seed 0 over the key's bytes (see the package docs for
 * each type's bytes). Implement this for other key types, e.g. {@code order -> KeyHasher.ofLong()
 * .hash(order.tenantId())}; {@link #ofBytes()} is plain XXH3-64 of any bytes you lay out yourself.
 *
 * <p>Hashes are plain {@code long}s: no hashing library's type appears in this API, so the
 * implementation behind the built-in hashers can change without changing a signature (the golden
 * vectors pin the values). The built-in hashers are stateless and thread-safe; implementations
 * must be thread-safe too.
 *
 * @param <K> the key type
 */
@FunctionalInterface
public interface KeyHasher<K> {

    /**
     * Hashes a key to the 64 bits every resolver starts from; must be stable across JVMs and releases.
     *
     * @param key not null
     * @return the key's 64-bit hash
     */
    long hash(K key);

    /** A long as its 8 bytes, little-endian. */
    static KeyHasher<Long> ofLong() {
        return key -> Xxh3.ofLong(key);
    }

    /** A string as its UTF-8 bytes. */
    static KeyHasher<String> ofString() {
        return key -> Xxh3.ofUtf8(key);
    }

    /** A byte array as it is. */
    static KeyHasher<byte[]> ofBytes() {
        return key -> Xxh3.ofBytes(key);
    }

    /** A UUID as its 16 RFC 4122 bytes (most significant long first, each big-endian). */
    static KeyHasher<UUID> ofUuid() {
        return key -> Xxh3.ofLongLong(
                Long.reverseBytes(key.getMostSignificantBits()), Long.reverseBytes(key.getLeastSignificantBits()));
    }

    /**
     * The built-in hasher for {@code type}: Long, String, byte[] or UUID.
     *
     * @throws IllegalArgumentException for any other type: pass a {@code KeyHasher} of your own
     */
    @SuppressWarnings("unchecked")
    static <K> KeyHasher<K> forType(Class<K> type) {
        Objects.requireNonNull(type, "type");
        if (type == Long.class) {
            return (KeyHasher<K>) ofLong();
        } else if (type == String.class) {
            return (KeyHasher<K>) ofString();
        } else if (type == byte[].class) {
            return (KeyHasher<K>) ofBytes();
        } else if (type == UUID.class) {
            return (KeyHasher<K>) ofUuid();
        }
        throw new IllegalArgumentException("no built-in KeyHasher for " + type.getName()
                + " (built in: Long, String, byte[], UUID); pass a KeyHasher of your own");
    }
}
