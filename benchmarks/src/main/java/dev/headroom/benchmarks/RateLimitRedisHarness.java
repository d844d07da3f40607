package dev.headroom.benchmarks;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.redis.RedisRateLimiter;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.distributed.BucketProxy;
import io.github.bucket4j.distributed.ExpirationAfterWriteStrategy;
import io.github.bucket4j.redis.lettuce.Bucket4jLettuce;
import io.github.bucket4j.redis.lettuce.cas.LettuceBasedProxyManager;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.event.command.CommandListener;
import io.lettuce.core.event.command.CommandStartedEvent;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Distributed decisions on one hot key: Headroom's {@link RedisRateLimiter} beside Bucket4j's
 * Lettuce proxy manager (compare-and-swap), and Headroom's leased-batch mode (batches of 20, kept
 * 100 ms), interleaved on the same Redis. The leased mode's admitted count may exceed the bound by
 * up to 20 × 4 by design. Each run: 4 clients
 * with connections of their own × 4 threads, {@code --seconds} (default 5) of back-to-back
 * decisions on a fresh key under a limit of a 1,000 burst and 5,000/s, far below the offered load.
 * Printed per run: decisions/s, Redis commands per decision (counted by a Lettuce {@code
 * CommandListener} on every client: what is sent, not what scripts run inside Redis), the admitted fraction of the bound
 * (capacity + rate × elapsed on Redis's clock), and p50/p99 of a decision's latency.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar dev.headroom.benchmarks.RateLimitRedisHarness
 * [--seconds 5] [--rounds 2] [--uri redis://127.0.0.1:6379]}.
 */
public final class RateLimitRedisHarness {
    private static final int CLIENTS = 4;
    private static final int THREADS = 4;
    private static final long CAPACITY = 1_000;
    private static final long PER_SECOND = 5_000;

    private RateLimitRedisHarness() {}

    /** One decision: true if admitted. */
    private interface Decider {
        boolean decide();
    }

    public static void main(String[] args) throws Exception {
        int seconds = 5;
        int rounds = 2;
        String uri = "redis://127.0.0.1:6379";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--uri" -> uri = args[++i];
                default ->
                    throw new IllegalArgumentException(
                            "unknown argument '" + args[i] + "'; usage: [--seconds S] [--rounds R] [--uri U]");
            }
        }
        RedisClient adminClient = RedisClient.create(uri);
        try (StatefulRedisConnection<String, String> adminConnection = adminClient.connect()) {
            RedisCommands<String, String> admin = adminConnection.sync();
            System.out.printf(
                    Locale.ROOT,
                    "machine: %d cores, JDK %s; Redis %s at %s; %d clients x %d threads, one key, %d s per run,"
                            + " limit %d burst + %d/s%n",
                    Runtime.getRuntime().availableProcessors(),
                    System.getProperty("java.version"),
                    info(admin.info("server"), "redis_version"),
                    uri,
                    CLIENTS,
                    THREADS,
                    seconds,
                    CAPACITY,
                    PER_SECOND);
            System.out.println(
                    "| round | side | decisions/s | commands/decision | admitted / bound | p50 us | p99 us |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int round = 1; round <= rounds; round++) {
                run(round, "headroom", uri, admin, seconds, RateLimitRedisHarness::headroom);
                run(round, "bucket4j-lettuce", uri, admin, seconds, RateLimitRedisHarness::bucket4j);
                run(round, "headroom leased 20", uri, admin, seconds, RateLimitRedisHarness::leased);
            }
        } finally {
            adminClient.shutdown();
        }
    }

    private static Decider headroom(RedisClient client, String key, List<AutoCloseable> closeables) {
        RedisRateLimiter l = limiter(client, closeables, 0);
        return () -> {
            var d = l.tryAcquire(key);
            if (d.degraded()) {
                throw new IllegalStateException("a degraded decision: Redis did not answer in time");
            }
            return d.allowed();
        };
    }

    private static Decider leased(RedisClient client, String key, List<AutoCloseable> closeables) {
        RedisRateLimiter l = limiter(client, closeables, 20);
        return () -> l.tryAcquire(key).allowed();
    }

    private static RedisRateLimiter limiter(RedisClient client, List<AutoCloseable> closeables, int leaseBatch) {
        StatefulRedisConnection<String, String> c = client.connect();
        closeables.add(c);
        RedisRateLimiter.Builder b = RedisRateLimiter.builder()
                .commands(c.async())
                .keyPrefix("headroom:bench:")
                .policy(RateLimitPolicy.of("hot", Bandwidth.greedy(CAPACITY, PER_SECOND, Duration.ofSeconds(1))))
                .timeout(Duration.ofSeconds(2))
                .meterRegistry(new SimpleMeterRegistry());
        if (leaseBatch > 0) {
            b.leaseBatch(leaseBatch, Duration.ofMillis(100));
        }
        RedisRateLimiter l = b.build();
        closeables.add(l);
        return l;
    }

    private static Decider bucket4j(RedisClient client, String key, List<AutoCloseable> closeables) {
        StatefulRedisConnection<byte[], byte[]> c = client.connect(ByteArrayCodec.INSTANCE);
        closeables.add(c);
        LettuceBasedProxyManager<byte[]> proxy = Bucket4jLettuce.casBasedBuilder(c)
                .expirationAfterWrite(
                        ExpirationAfterWriteStrategy.basedOnTimeForRefillingBucketUpToMax(Duration.ofSeconds(10)))
                .build();
        BucketConfiguration config = BucketConfiguration.builder()
                .addLimit(limit -> limit.capacity(CAPACITY).refillGreedy(PER_SECOND, Duration.ofSeconds(1)))
                .build();
        BucketProxy bucket =
                proxy.builder().build(("bucket4j:bench:" + key).getBytes(StandardCharsets.UTF_8), () -> config);
        return () -> bucket.tryConsumeAndReturnRemaining(1).isConsumed();
    }

    private static void run(
            int round, String side, String uri, RedisCommands<String, String> admin, int seconds, TriFunction factory)
            throws Exception {
        String key = "k-" + System.nanoTime();
        List<AutoCloseable> closeables = new ArrayList<>();
        List<RedisClient> clients = new ArrayList<>();
        List<Decider> deciders = new ArrayList<>();
        AtomicLong sent = new AtomicLong();
        for (int i = 0; i < CLIENTS; i++) {
            RedisClient client = RedisClient.create(uri);
            client.addListener(new CommandListener() {
                @Override
                public void commandStarted(CommandStartedEvent event) {
                    sent.incrementAndGet();
                }
            });
            clients.add(client);
            deciders.add(factory.make(client, key + "-warm", closeables));
        }
        for (Decider d : deciders) {
            d.decide(); // connects, loads scripts
        }
        deciders.clear();
        for (RedisClient client : clients) {
            deciders.add(factory.make(client, key, closeables));
        }
        ExecutorService pool = Executors.newFixedThreadPool(CLIENTS * THREADS);
        AtomicLong admitted = new AtomicLong();
        AtomicLong decisions = new AtomicLong();
        List<long[]> latencies = new ArrayList<>();
        CountDownLatch start = new CountDownLatch(1);
        long runNanos = Duration.ofSeconds(seconds).toNanos();
        List<Future<?>> fs = new ArrayList<>();
        for (Decider d : deciders) {
            for (int t = 0; t < THREADS; t++) {
                long[] lat = new long[1 << 20];
                latencies.add(lat);
                fs.add(pool.submit(() -> {
                    start.await();
                    long end = System.nanoTime() + runNanos;
                    int n = 0;
                    for (long now = System.nanoTime(); now < end; ) {
                        boolean ok = d.decide();
                        long after = System.nanoTime();
                        lat[n++ & (lat.length - 1)] = after - now;
                        now = after;
                        if (ok) {
                            admitted.incrementAndGet();
                        }
                    }
                    decisions.addAndGet(n);
                    return null;
                }));
            }
        }
        long from = micros(admin.time());
        long sentBefore = sent.get();
        start.countDown();
        for (Future<?> f : fs) {
            f.get();
        }
        long commands = sent.get() - sentBefore;
        long to = micros(admin.time());
        pool.shutdown();
        for (int i = closeables.size() - 1; i >= 0; i--) {
            closeables.get(i).close();
        }
        clients.forEach(RedisClient::shutdown);
        double elapsed = (to - from) / 1e6;
        double bound = CAPACITY + PER_SECOND * elapsed;
        long[] all = merge(latencies, decisions.get());
        System.out.printf(
                Locale.ROOT,
                "| %d | %s | %,.0f | %.2f | %.4f | %.0f | %.0f |%n",
                round,
                side,
                decisions.get() / elapsed,
                (double) commands / decisions.get(),
                admitted.get() / bound,
                all[all.length / 2] / 1e3,
                all[(int) (all.length * 0.99)] / 1e3);
    }

    private static long[] merge(List<long[]> parts, long total) {
        long[] all = new long[0];
        for (long[] p : parts) {
            int used = 0;
            while (used < p.length && p[used] != 0) {
                used++;
            }
            int start = all.length;
            all = Arrays.copyOf(all, start + used);
            System.arraycopy(p, 0, all, start, used);
        }
        Arrays.sort(all);
        return all.length == 0 ? new long[] {0} : all;
    }

    private static long micros(List<String> time) {
        return Long.parseLong(time.get(0)) * 1_000_000L + Long.parseLong(time.get(1));
    }

    private static String info(String info, String field) {
        for (String line : info.split("\r?\n")) {
            if (line.startsWith(field + ":")) {
                return line.substring(field.length() + 1).trim();
            }
        }
        throw new IllegalStateException("no " + field + " in INFO");
    }

    @FunctionalInterface
    private interface TriFunction {
        Decider make(RedisClient client, String key, List<AutoCloseable> closeables);
    }
}
