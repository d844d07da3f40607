package dev.headroom.benchmarks;

import dev.headroom.cache.RemoteStore;
import dev.headroom.cache.TieredCache;
import dev.headroom.core.Codec;
import dev.headroom.core.Ticker;
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
}
