package dev.headroom.benchmarks;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.cache.TieredCache;
import dev.headroom.core.Ticker;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * An L1 hit of {@link TieredCache} beside a raw Caffeine {@code getIfPresent} on the same keys and
 * values, bounded and expiring the way a user would configure raw Caffeine (size + TTL).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CacheL1HitBenchmark {

    private static final int KEYS = 1024; // power of two: index with a mask

    private final String[] keys = new String[KEYS];
    private Cache<String, String> raw;
    private TieredCache<String, String> tiered;
    private Cache<String, String> rawSizeOnly;
    private TieredCache<String, String> tieredSystemTicker;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
    }

    @Setup(Level.Trial)
    public void setUp() {
        raw = Caffeine.newBuilder()
                .maximumSize(10_000)
                .expireAfterWrite(Duration.ofMinutes(5))
                .build();
        tiered = TieredCache.<String, String>builder("bench")
                .maximumSize(10_000)
                .ttl(Duration.ofMinutes(5))
                .loader(k -> "value-" + k)
                .build();
        tieredSystemTicker = TieredCache.<String, String>builder("bench-system-ticker")
                .maximumSize(10_000)
                .ttl(Duration.ofMinutes(5))
                .ticker(Ticker.system())
                .loader(k -> "value-" + k)
                .build();
        rawSizeOnly = Caffeine.newBuilder().maximumSize(10_000).build();
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
            rawSizeOnly.put(keys[i], "v");
            raw.put(keys[i], "value-" + keys[i]);
            tiered.get(keys[i]);
            tieredSystemTicker.get(keys[i]);
        }
    }

    @Benchmark
    public @Nullable String rawCaffeineGetIfPresent(Cursor c) {
        return raw.getIfPresent(keys[c.next++ & (KEYS - 1)]);
    }

    /**
     * Raw Caffeine plus one clock read: what deciding freshness per entry (stale-while-revalidate,
     * TTL jitter, XFetch) with a {@code nanoTime} call would add to Caffeine's own expiry.
     */
    @Benchmark
    public @Nullable String rawCaffeineGetIfPresentAndClockRead(Cursor c, Blackhole bh) {
        bh.consume(System.nanoTime());
        return raw.getIfPresent(keys[c.next++ & (KEYS - 1)]);
    }

    /** Raw Caffeine bounded by size only, no expiry: what TieredCache's L1 is built on. */
    @Benchmark
    public @Nullable String rawCaffeineSizeOnlyGetIfPresent(Cursor c) {
        return rawSizeOnly.getIfPresent(keys[c.next++ & (KEYS - 1)]);
    }

    @Benchmark
    public @Nullable String tieredGetIfPresent(Cursor c) {
        return tiered.getIfPresent(keys[c.next++ & (KEYS - 1)]);
    }

    @Benchmark
    public @Nullable String tieredGet(Cursor c) {
        return tiered.get(keys[c.next++ & (KEYS - 1)]);
    }

    /**
     * A hit that reads {@code System.nanoTime()} itself: what every hit costs when the cache is
     * given an explicit ticker, and what the default clock costs below its sampling threshold.
     */
    @Benchmark
    public @Nullable String tieredGetSystemTicker(Cursor c) {
        return tieredSystemTicker.get(keys[c.next++ & (KEYS - 1)]);
    }
}
