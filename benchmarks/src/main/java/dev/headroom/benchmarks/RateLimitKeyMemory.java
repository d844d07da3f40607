package dev.headroom.benchmarks;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.LocalRateLimiter;
import dev.headroom.ratelimit.RateLimitPolicy;
import io.github.bucket4j.Bucket;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Locale;

/**
 * Heap bytes per live key of {@link LocalRateLimiter} beside a hand-written Caffeine map of
 * Bucket4j buckets, from the heap in use after full GCs before and after filling each with
 * {@code --keys} (default 1,000,000) keys {@code key-<n>}; the keys' own strings are included in
 * both. Run: {@code java -cp benchmarks/target/benchmarks.jar
 * dev.headroom.benchmarks.RateLimitKeyMemory [--keys N]}.
 */
public final class RateLimitKeyMemory {
    private RateLimitKeyMemory() {}

    public static void main(String[] args) {
        int keys = args.length == 2 && args[0].equals("--keys") ? Integer.parseInt(args[1]) : 1_000_000;
        RateLimitPolicy policy = RateLimitPolicy.of("mem", Bandwidth.perPeriod(100, Duration.ofMinutes(1)));

        long before = usedAfterGc();
        LocalRateLimiter limiter =
                LocalRateLimiter.builder().policy(policy).maxKeys(keys).build();
        for (int i = 0; i < keys; i++) {
            limiter.tryAcquire("key-" + i);
        }
        long headroom = usedAfterGc() - before;
        long held = limiter.keys();

        before = usedAfterGc();
        Cache<String, Bucket> raw = Caffeine.newBuilder()
                .maximumSize(keys)
                .expireAfterAccess(Duration.ofMinutes(1))
                .build();
        for (int i = 0; i < keys; i++) {
            raw.get(
                            "key-" + i,
                            k -> Bucket.builder()
                                    .addLimit(l -> l.capacity(100).refillGreedy(100, Duration.ofMinutes(1)))
                                    .build())
                    .tryConsume(1);
        }
        long hand = usedAfterGc() - before;
        System.out.printf(
                Locale.ROOT,
                "JDK %s; %,d keys (%,d held): LocalRateLimiter %.0f bytes/key; Caffeine + Bucket4j by hand %.0f"
                        + " bytes/key (the key strings, ~48 bytes each, included in both)%n",
                System.getProperty("java.version"),
                keys,
                held,
                (double) headroom / keys,
                (double) hand / raw.estimatedSize());
        // keep both reachable until measured
        if (limiter.keys() + raw.estimatedSize() < 0) {
            System.out.println();
        }
    }

    private static long usedAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        return heap.getUsed();
    }
}
