package dev.headroom.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Codec;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Enqueue-to-start latency of Headroom's PostgreSQL queue at a steady offered rate: {@code --rate}
 * jobs/s from {@value #ENQUEUERS} paced threads for {@code --seconds}, a {@link JobWorker} with the
 * default poll interval (1 s), so a latency well under a second comes from LISTEN/NOTIFY, not the
 * poll. Each job's latency runs from the moment its enqueue was <em>due</em> by the pacing (not when
 * the enqueuing thread got to it, so a stalled enqueuer cannot hide latency) to the moment its handler
 * starts, both read from {@link System#nanoTime()} in this JVM. The first {@code --warmup} seconds
 * are left out. Prints p50/p90/p99/p99.9/max, the enqueue call's own p99, and the worker's claim
 * profile.
 *
 * <p>Run: {@code scripts/queue-bench latency [--rate 500] [--seconds 30] [--warmup 5] [--prefetch 0]
 * [--concurrency 16]}; PostgreSQL as for {@link QueueThroughputHarness}.
 */
public final class QueueLatencyHarness {
    private static final int ENQUEUERS = 4;

    private QueueLatencyHarness() {}

    public static void main(String[] args) throws Exception {
        int rate = 500;
        int seconds = 30;
        int warmup = 5;
        int prefetch = 0;
        int concurrency = 16;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--prefetch" -> prefetch = Integer.parseInt(args[++i]);
                case "--concurrency" -> concurrency = Integer.parseInt(args[++i]);
                default ->
                    throw new IllegalArgumentException("unknown argument '" + args[i]
                            + "'; usage: latency [--rate N] [--seconds S] [--warmup S] [--prefetch N]"
                            + " [--concurrency N]");
            }
        }
        QueueBenchDatabases databases = QueueBenchDatabases.fromEnvironment();
        System.out.printf(
                Locale.ROOT,
                "machine: %d cores, JDK %s, PostgreSQL %s; offered %d jobs/s for %d s (first %d s left out),"
                        + " %d paced enqueuers (auto-commit, single rows); worker concurrency %d, prefetch %d,"
                        + " default poll interval%n",
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                databases.serverVersion(),
                rate,
                seconds,
                warmup,
                ENQUEUERS,
                concurrency,
                prefetch);

        int total = rate * seconds;
        long periodNanos = 1_000_000_000L / rate;
        long[] due = new long[total];
        long[] started = new long[total];
        long[] enqueueCall = new long[total];
        CountDownLatch allStarted = new CountDownLatch(total);
        String db = databases.create("qbench_latency_");
        try (HikariDataSource ds = databases.pool(db)) {
            PostgresJobStore postgres = PostgresJobStore.create(ds);
            postgres.createSchema();
            CountingJobStore store = new CountingJobStore(postgres);
            try (JobQueue queue = JobQueue.builder(store).build()) {
                JobWorker worker = JobWorker.builder(queue)
                        .queue("default", concurrency)
                        .prefetch(prefetch)
                        .handler("timed", Codec.byteArray(), (payload, ctx) -> {
                            long now = System.nanoTime();
                            int seq = ByteBuffer.wrap(payload).getInt();
                            started[seq] = now;
                            allStarted.countDown();
                        })
                        .build();
                worker.start();
                AtomicLong failures = new AtomicLong();
                long origin = System.nanoTime() + 200_000_000L;
                Thread[] enqueuers = new Thread[ENQUEUERS];
                for (int t = 0; t < ENQUEUERS; t++) {
                    int first = t;
                    enqueuers[t] = new Thread(
                            () -> {
                                for (int seq = first; seq < total; seq += ENQUEUERS) {
                                    long at = origin + seq * periodNanos;
                                    long wait;
                                    while ((wait = at - System.nanoTime()) > 0) {
                                        LockSupport.parkNanos(wait);
                                    }
                                    due[seq] = at;
                                    long before = System.nanoTime();
                                    try {
                                        queue.enqueue(
                                                "timed",
                                                ByteBuffer.allocate(4)
                                                        .putInt(seq)
                                                        .array());
                                    } catch (RuntimeException e) {
                                        failures.incrementAndGet();
                                    }
                                    enqueueCall[seq] = System.nanoTime() - before;
                                }
                            },
                            "qbench-paced-" + t);
                    enqueuers[t].start();
                }
                for (Thread t : enqueuers) {
                    t.join();
                }
                if (!allStarted.await(60, TimeUnit.SECONDS) || failures.get() > 0) {
                    throw new IllegalStateException(
                            "not every job started: " + allStarted.getCount() + " missing, " + failures + " failed");
                }
                worker.shutdown(Duration.ofSeconds(10));

                int from = rate * warmup;
                long[] latency = new long[total - from];
                long[] calls = new long[total - from];
                for (int i = from; i < total; i++) {
                    latency[i - from] = started[i] - due[i];
                    calls[i - from] = enqueueCall[i];
                }
                Arrays.sort(latency);
                Arrays.sort(calls);
                System.out.printf(
                        Locale.ROOT,
                        "enqueue->start latency over %,d jobs: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms,"
                                + " max %.1f ms; enqueue call p50 %.1f ms, p99 %.1f ms%n",
                        latency.length,
                        ms(latency, 0.50),
                        ms(latency, 0.90),
                        ms(latency, 0.99),
                        ms(latency, 0.999),
                        latency[latency.length - 1] / 1e6,
                        ms(calls, 0.50),
                        ms(calls, 0.99));
                System.out.printf(
                        Locale.ROOT,
                        "worker: claims %d (avg %.1f jobs, %d short), NOTIFY wakeups %d%n",
                        store.claimCalls.get(),
                        (double) store.claimed.get() / Math.max(1, store.claimCalls.get()),
                        store.shortClaims.get(),
                        store.wakeups.get());
            }
        } finally {
            databases.drop(db);
        }
    }

    private static double ms(long[] sorted, double quantile) {
        int i = (int) Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1e6;
    }
}
