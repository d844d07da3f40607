package dev.headroom.ratelimit.redis;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.RateLimitPolicy;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * The exact-bound run, shared by the standalone, cluster and leased tests: half of each new
 * bucket is taken at once, then every thread of every limiter instance asks for one permit at a time
 * on a few keys for a while, then each bucket is drained. Admitted must stay within capacity + rate ×
 * elapsed (elapsed on Redis's clock, from before the buckets exist to after the drain) and reach 99%
 * of what was owed: capacity + rate × the time from the half-take to the drain.
 *
 * <p>Why the half-take, the drain, and a burst of seconds: on two busy cores every caller can be
 * descheduled at once, and released threads get a core one by one. While too few ask, a bucket
 * fills; once full, its refill is lost, and no limiter can admit what nobody asked for. A bucket
 * that starts half empty and holds seconds of refill loses nothing to a slow start or a stall
 * shorter than that, and the drain collects what is left at the end, so only a limiter that loses
 * refill itself (a denial that drops fractional tokens, a clock that lags) comes out below 99%.
 */
final class ExactBoundRun {

    /** What one key's bucket admitted, and what it could and should have. */
    record KeyResult(String key, long admitted, double bound, double owed) {}

    /** The run's outcome. */
    record Result(long decisions, long degraded, List<KeyResult> keys, double elapsedSeconds) {

        void print(String label) {
            System.out.printf(
                    Locale.ROOT,
                    "%s: %d decisions, %d degraded, elapsed %.3f s on Redis's clock%n",
                    label,
                    decisions,
                    degraded,
                    elapsedSeconds);
            for (KeyResult k : keys) {
                System.out.printf(
                        Locale.ROOT,
                        "%s key %s: %d admitted, bound %.1f (%.4f of it), owed %.1f (%.4f of it)%n",
                        label,
                        k.key(),
                        k.admitted(),
                        k.bound(),
                        k.admitted() / k.bound(),
                        k.owed(),
                        k.admitted() / k.owed());
            }
        }

        /**
         * The bound holds for every key (plus {@code above} permits) and 99% of what was owed came
         * (less {@code below} permits).
         */
        void assertExact(double above, double below) {
            assertThat(degraded).as("decisions Redis did not make").isZero();
            assertThat((double) decisions)
                    .as("offered above the limits of all keys together")
                    .isGreaterThan(keys.stream().mapToDouble(KeyResult::bound).sum());
            for (KeyResult k : keys) {
                assertThat((double) k.admitted())
                        .as("key %s admitted at most the bound", k.key())
                        .isLessThanOrEqualTo(k.bound() + above);
                assertThat((double) k.admitted())
                        .as("key %s admitted at least 99%% of what was owed", k.key())
                        .isGreaterThanOrEqualTo(k.owed() * 0.99 - below);
            }
        }
    }

    private ExactBoundRun() {}

    /**
     * A limiter fit for the run: it decides in Redis or refuses, never a local guess, and waits up
     * to 5 s for Redis, since a decision timed out on the client may still have taken its token in
     * Redis, uncounted (two busy cores stall for more than the default 100 ms under CI).
     */
    static RedisRateLimiter.Builder limiter(
            RedisClusterAsyncCommands<String, String> commands, String keyPrefix, RateLimitPolicy policy) {
        return RedisRateLimiter.builder()
                .commands(commands)
                .keyPrefix(keyPrefix)
                .policy(policy)
                .timeout(Duration.ofSeconds(5))
                .failureMode(RedisRateLimiter.FailureMode.FAIL_CLOSED)
                .meterRegistry(new SimpleMeterRegistry());
    }

    /**
     * Runs it on {@code policy}'s one greedy bandwidth. {@code redisMicros} reads Redis's clock;
     * {@code delete} deletes a Redis key (each bucket's, after the warm-up, so that it starts full
     * when first asked); {@code plain} takes half of each bucket at the start and what is left at
     * the end (a limiter of {@code policy} on the same keys that decides every call in Redis: not a
     * leasing one).
     */
    static Result run(
            List<RedisRateLimiter> instances,
            int threadsPerInstance,
            List<String> keys,
            Duration runFor,
            RateLimitPolicy policy,
            LongSupplier redisMicros,
            Consumer<String> delete,
            RedisRateLimiter plain)
            throws Exception {
        Bandwidth bandwidth = policy.primary();
        long capacity = bandwidth.capacity();
        double perSecond =
                bandwidth.refillTokens() * 1e9 / bandwidth.refillPeriod().toNanos();
        // warm up: connections (to every master on a cluster), the script loaded; then from empty
        for (RedisRateLimiter l : instances) {
            for (String k : keys) {
                assertThat(l.tryAcquire(k).degraded())
                        .as("warm-up decision on %s", k)
                        .isFalse();
            }
        }
        for (String k : keys) {
            delete.accept(plain.redisKey(policy, k));
        }
        AtomicLong[] admitted = new AtomicLong[keys.size()];
        for (int k = 0; k < keys.size(); k++) {
            admitted[k] = new AtomicLong();
        }
        AtomicLong decisions = new AtomicLong();
        AtomicLong degraded = new AtomicLong();
        long from = redisMicros.getAsLong(); // before the buckets exist: the bound's start
        long half = capacity / 2;
        for (int k = 0; k < keys.size(); k++) {
            Decision d = plain.tryAcquire(keys.get(k), half);
            assertThat(d.allowed())
                    .as("half of the new bucket of %s", keys.get(k))
                    .isTrue();
            admitted[k].addAndGet(half);
        }
        long owedFrom = redisMicros.getAsLong(); // every bucket half empty: nothing is lost from here
        ExecutorService pool = Executors.newFixedThreadPool(instances.size() * threadsPerInstance);
        CountDownLatch start = new CountDownLatch(1);
        long runNanos = runFor.toNanos();
        List<Future<?>> threads = new ArrayList<>();
        try {
            for (RedisRateLimiter l : instances) {
                for (int t = 0; t < threadsPerInstance; t++) {
                    int offset = t;
                    threads.add(pool.submit(() -> {
                        start.await();
                        long end = System.nanoTime() + runNanos;
                        for (int i = offset; System.nanoTime() < end; i++) {
                            int k = i % keys.size();
                            Decision d = l.tryAcquire(keys.get(k));
                            decisions.incrementAndGet();
                            if (d.degraded()) {
                                degraded.incrementAndGet();
                            } else if (d.allowed()) {
                                admitted[k].incrementAndGet();
                            }
                        }
                        return null;
                    }));
                }
            }
            start.countDown();
            for (Future<?> f : threads) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        long drainFrom = redisMicros.getAsLong();
        for (int k = 0; k < keys.size(); k++) {
            admitted[k].addAndGet(drain(plain, keys.get(k)));
        }
        long to = redisMicros.getAsLong();
        List<KeyResult> results = new ArrayList<>();
        for (int k = 0; k < keys.size(); k++) {
            results.add(new KeyResult(
                    keys.get(k),
                    admitted[k].get(),
                    capacity + perSecond * (to - from) / 1e6,
                    capacity + perSecond * (drainFrom - owedFrom) / 1e6));
        }
        return new Result(decisions.get(), degraded.get(), List.copyOf(results), (to - from) / 1e6);
    }

    /** Takes what is left in the bucket, in a few calls (one per permit could race the refill). */
    private static long drain(RedisRateLimiter l, String key) {
        long taken = 0;
        Decision d = l.tryAcquire(key);
        assertThat(d.degraded()).as("drain decision on %s", key).isFalse();
        if (d.allowed()) {
            taken++;
        }
        for (int i = 0; i < 10 && d.allowed() && d.remaining() > 0; i++) {
            long left = d.remaining();
            d = l.tryAcquire(key, left);
            assertThat(d.degraded()).as("drain decision on %s", key).isFalse();
            if (d.allowed()) {
                taken += left;
            }
        }
        return taken;
    }
}
