package dev.headroom.benchmarks;

import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.nio.ByteBuffer;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A soak of Headroom's PostgreSQL queue: a steady {@code --rate} of keyed enqueues for {@code
 * --minutes}, a worker whose handler fails one job in {@value #FAIL_ONE_IN} on its first attempt
 * (so error rows and retries churn too), idempotency keys freed by a {@code --window} retention.
 * Every minute it prints the rows and on-disk size (heap + indexes, TOAST included) of each queue
 * table. At the end it checks that the sizes stayed within what retention allows: the hot table
 * and the error table no bigger in the last third than {@value #GROWTH}x the largest size of the
 * middle third plus 1 MB (they hold only live jobs, so vacuum must keep reusing their pages), the
 * key table within {@code rate x (window + 2 min)} rows, and every job done. Exit status 1 if not.
 *
 * <p>Run: {@code scripts/queue-soak [--minutes 30] [--rate 300] [--window 2]} (window in minutes);
 * PostgreSQL as for {@link QueueThroughputHarness}. Not part of {@code verify}.
 */
public final class QueueSoakHarness {
    private static final int FAIL_ONE_IN = 20;
    private static final double GROWTH = 1.25;
    private static final String[] TABLES = {
        "headroom_job", "headroom_job_key", "headroom_job_error", "headroom_dead_job"
    };

    private QueueSoakHarness() {}

    /** One minute's reading. */
    private record Sample(int minute, long[] rows, long[] bytes, long enqueued, long handled) {}

    public static void main(String[] args) throws Exception {
        int minutes = 30;
        int rate = 300;
        int window = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--minutes" -> minutes = Integer.parseInt(args[++i]);
                case "--rate" -> rate = Integer.parseInt(args[++i]);
                case "--window" -> window = Integer.parseInt(args[++i]);
                default ->
                    throw new IllegalArgumentException(
                            "unknown argument '" + args[i] + "'; usage: [--minutes N] [--rate N] [--window MINUTES]");
            }
        }
        QueueBenchDatabases databases = QueueBenchDatabases.fromEnvironment();
        System.out.printf(
                Locale.ROOT,
                "soak: %d min, %d keyed jobs/s, 1 in %d fails its first attempt, key window %d min;"
                        + " machine %d cores, JDK %s, PostgreSQL %s (autovacuum at its defaults)%n",
                minutes,
                rate,
                FAIL_ONE_IN,
                window,
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                databases.serverVersion());
        String db = databases.create("qbench_soak_");
        List<Sample> samples = new ArrayList<>();
        try (HikariDataSource ds = databases.pool(db)) {
            PostgresJobStore store = PostgresJobStore.create(ds);
            store.createSchema();
            AtomicLong enqueued = new AtomicLong();
            AtomicLong handled = new AtomicLong();
            try (JobQueue queue = JobQueue.builder(store)
                    .backoff(Backoff.builder()
                            .base(Duration.ofMillis(200))
                            .cap(Duration.ofSeconds(2))
                            .build())
                    .build()) {
                JobWorker worker = JobWorker.builder(queue)
                        .queue("default", 16)
                        .idempotencyWindow(Duration.ofMinutes(window))
                        .handler("soak", Codec.byteArray(), (payload, ctx) -> {
                            long seq = ByteBuffer.wrap(payload).getLong();
                            if (seq % FAIL_ONE_IN == 0 && ctx.job().attempt() == 1) {
                                throw new IllegalStateException("soak failure of job " + seq);
                            }
                            handled.incrementAndGet();
                        })
                        .build();
                worker.start();
                long periodNanos = 1_000_000_000L / rate;
                long origin = System.nanoTime();
                long end = origin + Duration.ofMinutes(minutes).toNanos();
                long nextSample = origin + 60_000_000_000L;
                for (long seq = 0; ; seq++) {
                    long at = origin + seq * periodNanos;
                    if (at >= end) {
                        break;
                    }
                    long wait;
                    while ((wait = at - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                    }
                    queue.enqueue(
                            "soak",
                            ByteBuffer.allocate(8).putLong(seq).array(),
                            EnqueueOptions.builder()
                                    .idempotencyKey("soak-" + seq)
                                    .build());
                    enqueued.incrementAndGet();
                    if (System.nanoTime() >= nextSample) {
                        samples.add(print(sample(ds, samples.size() + 1, enqueued.get(), handled.get())));
                        nextSample += 60_000_000_000L;
                    }
                }
                long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
                while (handled.get() < enqueued.get() && System.nanoTime() < deadline) {
                    LockSupport.parkNanos(50_000_000L);
                }
                worker.shutdown(Duration.ofSeconds(10));
            }
            Sample last = print(sample(ds, samples.size() + 1, enqueued.get(), handled.get()));
            samples.add(last);
            System.exit(verdict(samples, rate, window, last) ? 0 : 1);
        } finally {
            databases.drop(db);
        }
    }

    private static Sample sample(HikariDataSource ds, int minute, long enqueued, long handled) throws Exception {
        long[] rows = new long[TABLES.length];
        long[] bytes = new long[TABLES.length];
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            for (int i = 0; i < TABLES.length; i++) {
                try (ResultSet rs = s.executeQuery("SELECT (SELECT count(*) FROM " + TABLES[i]
                        + "), pg_total_relation_size('" + TABLES[i] + "')")) {
                    rs.next();
                    rows[i] = rs.getLong(1);
                    bytes[i] = rs.getLong(2);
                }
            }
        }
        return new Sample(minute, rows, bytes, enqueued, handled);
    }

    private static Sample print(Sample s) {
        StringBuilder line = new StringBuilder(String.format(
                Locale.ROOT, "min %3d  enqueued %,10d  handled %,10d ", s.minute(), s.enqueued(), s.handled()));
        for (int i = 0; i < TABLES.length; i++) {
            line.append(
                    String.format(Locale.ROOT, " | %s %,d rows %.1f MB", TABLES[i], s.rows()[i], s.bytes()[i] / 1e6));
        }
        System.out.println(line);
        return s;
    }

    private static boolean verdict(List<Sample> samples, int rate, int window, Sample last) {
        boolean ok = last.handled() == last.enqueued();
        System.out.printf(Locale.ROOT, "all jobs done: %s (%,d of %,d)%n", ok, last.handled(), last.enqueued());
        int n = samples.size();
        if (n >= 6) {
            for (int t : new int[] {0, 2}) {
                long middle = 0;
                long tail = 0;
                for (int i = n / 3; i < 2 * n / 3; i++) {
                    middle = Math.max(middle, samples.get(i).bytes()[t]);
                }
                for (int i = 2 * n / 3; i < n; i++) {
                    tail = Math.max(tail, samples.get(i).bytes()[t]);
                }
                boolean bounded = tail <= GROWTH * middle + 1_000_000;
                System.out.printf(
                        Locale.ROOT,
                        "%s: largest %.1f MB in the middle third, %.1f MB in the last third: %s%n",
                        TABLES[t],
                        middle / 1e6,
                        tail / 1e6,
                        bounded ? "bounded" : "GROWING");
                ok &= bounded;
            }
        } else {
            System.out.println("fewer than 6 samples: no growth verdict (run at least 6 minutes)");
        }
        long keyBound = (long) rate * 60 * (window + 2);
        long keys = 0;
        for (Sample s : samples) {
            keys = Math.max(keys, s.rows()[1]);
        }
        boolean keysBounded = samples.size() <= window + 2 || keys <= keyBound;
        System.out.printf(
                Locale.ROOT,
                "headroom_job_key: at most %,d rows (retention allows %,d): %s%n",
                keys,
                keyBound,
                keysBounded ? "bounded" : "GROWING");
        return ok && keysBounded;
    }
}
