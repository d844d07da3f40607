package dev.headroom.benchmarks;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.LocalRateLimiter;
import dev.headroom.ratelimit.RateLimitPolicy;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
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

/**
 * {@link LocalRateLimiter#tryAcquire(String)} on existing keys beside what a user writes by hand: a
 * Caffeine lookup of the key's Bucket4j bucket, then {@code tryConsume} (or {@code
 * tryConsumeAndReturnRemaining}, which answers what a {@link Decision} holds), and a lone bucket's
 * {@code tryConsume}; {@link LocalRateLimiter#tryConsume} answers what {@code tryConsume} answers.
 * The limit is never reached, so every call takes the allow path.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RateLimitLocalBenchmark {

    private static final int KEYS = 1024; // power of two: index with a mask

    private final String[] keys = new String[KEYS];
    private LocalRateLimiter limiter;
    private Cache<String, Bucket> raw;
    private Bucket single;

    @State(Scope.Thread)
    public static class Cursor {
        int next;
    }

    private static Bucket newBucket() {
        return Bucket.builder()
                .addLimit(limit -> limit.capacity(1_000_000_000L).refillGreedy(1_000_000_000L, Duration.ofSeconds(1)))
                .build();
    }

    @Setup(Level.Trial)
    public void setUp() {
        limiter = LocalRateLimiter.builder()
                .policy(RateLimitPolicy.of("bench", Bandwidth.perPeriod(1_000_000_000L, Duration.ofSeconds(1))))
                .maxKeys(10_000)
                .build();
        raw = Caffeine.newBuilder()
                .maximumSize(10_000)
                .expireAfterAccess(Duration.ofSeconds(1))
                .build();
        single = newBucket();
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
            limiter.tryAcquire(keys[i]);
            var unused = raw.get(keys[i], k -> newBucket());
        }
    }

    @Benchmark
    public boolean rawBucketTryConsume() {
        return single.tryConsume(1);
    }

    @Benchmark
    public boolean rawCaffeineThenTryConsume(Cursor c) {
        return raw.get(keys[c.next++ & (KEYS - 1)], k -> newBucket()).tryConsume(1);
    }

    @Benchmark
    public ConsumptionProbe rawCaffeineThenProbe(Cursor c) {
        return raw.get(keys[c.next++ & (KEYS - 1)], k -> newBucket()).tryConsumeAndReturnRemaining(1);
    }

    @Benchmark
    public Decision headroomTryAcquire(Cursor c) {
        return limiter.tryAcquire(keys[c.next++ & (KEYS - 1)]);
    }

    /** The same decision answered as the by-hand {@code tryConsume} answers it: allowed or not. */
    @Benchmark
    public boolean headroomTryConsume(Cursor c) {
        return limiter.tryConsume(keys[c.next++ & (KEYS - 1)], 1);
    }
}
