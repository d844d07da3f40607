package dev.headroom.shard;

import com.dynatrace.hash4j.hashing.Hasher64;
import com.dynatrace.hash4j.hashing.Hashing;
import java.nio.charset.StandardCharsets;

/**
 * XXH3-64 with seed 0, the hash every strategy starts from. Package-private so that hash4j, which
 * computes it, stays out of the public API: callers see hashes only as {@code long}. Thread-safe
 * (stateless).
 */
final class Xxh3 {
    private static final Hasher64 HASHER = Hashing.xxh3_64();

    private Xxh3() {}

    static long ofBytes(byte[] bytes) {
        return HASHER.hashBytesToLong(bytes);
    }

    static long ofUtf8(String s) {
        return HASHER.hashBytesToLong(s.getBytes(StandardCharsets.UTF_8));
    }

    /** The 8 bytes of {@code v}, little-endian. */
    static long ofLong(long v) {
        return HASHER.hashLongToLong(v);
    }

    /** The 16 bytes of {@code a} then {@code b}, each little-endian. */
    static long ofLongLong(long a, long b) {
        return HASHER.hashLongLongToLong(a, b);
    }
}
