package dev.headroom.benchmarks;

import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.function.IntFunction;

/**
 * The L2-hit comparison of {@link CacheL2HitBenchmark}, measured as interleaved pairs: blocks of
 * {@code block} reads through the raw Lettuce {@code GET} and through {@link TieredCache}
 * alternate (in random order within each pair) for {@code seconds}, and the result is the median
 * of the per-pair ratios with a bootstrap 95% interval. On a shared VM whose loopback round trip
 * drifts by several times within seconds, sequential JMH runs of the two compare different
 * machines; adjacent blocks compare the same one.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar dev.headroom.benchmarks.PairedL2Hit
 * [seconds=60] [block=200]} with Redis at {@code HEADROOM_REDIS_URL} or redis://127.0.0.1:6379.
 */
public final class PairedL2Hit {
    private static final int KEYS = 256;
    private static final String VALUE = "x".repeat(200);

    private PairedL2Hit() {}

    public static void main(String[] args) {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        int block = args.length > 1 ? Integer.parseInt(args[1]) : 200;
        String uri = System.getenv().getOrDefault("HEADROOM_REDIS_URL", "redis://127.0.0.1:6379");
        RedisClient client = RedisClient.create(uri);
        StatefulRedisConnection<String, byte[]> raw = client.connect(RedisRemoteStore.CODEC);
        // one connection for both, as in CacheL2HitBenchmark
        RedisRemoteStore store = RedisRemoteStore.builder()
                .connection(raw)
                .keyPrefix("bench:l2:")
                .build();
        TieredCache<String, String> tiered = BenchmarkCaches.everyReadFromL2("bench-l2-paired", store);
        String[] keys = new String[KEYS];
        String[] rawKeys = new String[KEYS];
        for (int i = 0; i < KEYS; i++) {
            keys[i] = "key-" + i;
            rawKeys[i] = "bench:raw:" + keys[i];
            BenchmarkCaches.putAgeless(raw, store, keys[i], VALUE);
            raw.sync().set(rawKeys[i], Codec.utf8().encode(VALUE));
        }
        IntFunction<String> rawRead = i -> Codec.utf8()
                .decode(raw.async()
                        .get(rawKeys[i & (KEYS - 1)])
                        .toCompletableFuture()
                        .join());
        IntFunction<String> tieredRead = i -> tiered.get(keys[i & (KEYS - 1)]);

        long warmupEnd =
                System.nanoTime() + Duration.ofSeconds(Math.max(5, seconds / 6)).toNanos();
        while (System.nanoTime() < warmupEnd) {
            time(rawRead, block);
            time(tieredRead, block);
        }
        Random order = new Random(42);
        double[] ratios = new double[1 << 16];
        double rawSum = 0;
        double tieredSum = 0;
        int pairs = 0;
        long end = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        while (System.nanoTime() < end && pairs < ratios.length) {
            double r;
            double t;
            if (order.nextBoolean()) {
                r = time(rawRead, block);
                t = time(tieredRead, block);
            } else {
                t = time(tieredRead, block);
                r = time(rawRead, block);
            }
            rawSum += r;
            tieredSum += t;
            ratios[pairs++] = t / r;
        }
        double[] measured = Arrays.copyOf(ratios, pairs);
        double median = median(measured);
        double[] medians = new double[1_000];
        Random resample = new Random(7);
        double[] sample = new double[pairs];
        for (int b = 0; b < medians.length; b++) {
            for (int i = 0; i < pairs; i++) {
                sample[i] = measured[resample.nextInt(pairs)];
            }
            medians[b] = median(sample);
        }
        Arrays.sort(medians);
        System.out.printf(
                "pairs %d x %d reads; mean raw %.1f us, tiered %.1f us per read%n",
                pairs, block, rawSum / pairs / 1e3, tieredSum / pairs / 1e3);
        System.out.printf(
                "median tiered/raw ratio %.3f (bootstrap 95%%: %.3f .. %.3f); ratio of means %.3f%n",
                median, medians[25], medians[974], tieredSum / rawSum);
        tiered.close();
        raw.close();
        client.shutdown();
        System.exit(0);
    }

    /** Nanoseconds per read over {@code n} reads. */
    private static double time(IntFunction<String> read, int n) {
        int sink = 0;
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            sink += read.apply(i).length();
        }
        long elapsed = System.nanoTime() - start;
        if (sink == 42) {
            System.out.print("");
        }
        return (double) elapsed / n;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
