package dev.headroom.benchmarks;

import dev.headroom.cache.RemoteStore;
import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.core.Ticker;
import io.lettuce.core.api.StatefulRedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** Caches shared by the L2-hit benchmarks. */
final class BenchmarkCaches {
    private BenchmarkCaches() {}

    /**
     * A cache whose every read misses L1 and is served by {@code store}: 1 ns TTL on an explicit
     * system ticker (the default clock could serve a 1 ns entry within its millisecond tick), no
     * jitter, no early refresh, and a loader that fails, so a read that L2 cannot serve shows up.
     */
    static TieredCache<String, String> everyReadFromL2(String name, RemoteStore store) {
        return TieredCache.<String, String>builder(name)
                .ttl(Duration.ofNanos(1))
                .ttlJitter(0)
                .earlyRefreshBeta(0)
                .ticker(Ticker.system())
                .remote(store, Codec.utf8())
                .l2Ttl(Duration.ofMinutes(10))
                .loader(k -> {
                    throw new IllegalStateException("benchmark keys must come from L2");
                })
                .build();
    }

    /**
     * Writes a value for {@link #everyReadFromL2} straight into Redis, stamped as written far in the
     * future: the cache keeps an L1 entry filled from L2 only for what is left of the TTL counted
     * from the write, and with a 1 ns TTL a value written now would be too old to serve from L2 at
     * all. A future write time reads as age 0 (as clock skew does), so every read is an L2 hit.
     */
    static void putAgeless(
            StatefulRedisConnection<String, byte[]> raw, RedisRemoteStore store, String key, String value) {
        byte[] head = "1@9999999999999|v".getBytes(StandardCharsets.US_ASCII);
        byte[] body = Codec.utf8().encode(value);
        byte[] record = new byte[head.length + body.length];
        System.arraycopy(head, 0, record, 0, head.length);
        System.arraycopy(body, 0, record, head.length, body.length);
        raw.sync().set(store.redisKey(key), record);
    }
}
