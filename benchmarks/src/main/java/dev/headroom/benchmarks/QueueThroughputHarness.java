package dev.headroom.benchmarks;

import com.github.kagkarlsson.scheduler.Scheduler;
import com.github.kagkarlsson.scheduler.SchedulerClient;
import com.github.kagkarlsson.scheduler.task.TaskInstance;
import com.github.kagkarlsson.scheduler.task.helper.OneTimeTask;
import com.github.kagkarlsson.scheduler.task.helper.Tasks;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Codec;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.NewJob;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;
import org.jspecify.annotations.Nullable;

/**
 * End-to-end throughput of Headroom's PostgreSQL job queue beside db-scheduler's, on the same
 * database server in the same run. Not JMH: each run creates a fresh database, enqueues {@code
 * jobs} no-op jobs one row at a time from 8 threads (enqueue jobs/s), then starts a consumer with
 * 16 threads and times it until every job has run and its row is gone (processing jobs/s). Runs
 * interleave headroom, db-scheduler, headroom, db-scheduler, ... so drift on a shared machine hits
 * both sides alike; the final table gives the headroom/db-scheduler ratio of processing
 * throughput per round.
 *
 * <p>Headroom: {@link JobWorker} with {@code queue("default", 16)}, a no-op {@code handler} and
 * the default poll interval, over a {@link PostgresJobStore} wrapped in a {@link
 * CountingJobStore} whose claim and completion counts are printed per run (the cheap profile).
 * db-scheduler: a no-op {@code OneTimeTask}, {@code threads(16).pollUsingLockAndFetch(0.5, 3.0)}
 * (its fastest polling strategy), instances scheduled through its {@code SchedulerClient} before
 * the scheduler starts. Both sides use a HikariCP pool of {@value #POOL_SIZE} connections.
 *
 * <p>Variants, each run on both sides in every round: {@code plain}; {@code backlog}, with {@code
 * --backlog} (default 1,000,000) jobs already in the table, due a day later, enqueued through each
 * side's own batch API before the measured enqueue; {@code pinned}, with a transaction holding a
 * snapshot (REPEATABLE READ, and an xid) open on the database for the whole run, so vacuum can
 * remove none of the run's dead rows, as under a long report query or a replica's {@code
 * hot_standby_feedback}. Every run prints its table's heap and index size before and after.
 *
 * <p>Run: {@code scripts/queue-bench [--jobs 20000] [--rounds 2] [--per-second] [--prefetch 0]
 * [--variants plain,backlog,pinned] [--backlog 1000000] [--warmup 1]} with PostgreSQL at {@code HEADROOM_PG_URL}
 * or jdbc:postgresql://127.0.0.1:5432/test (user {@code HEADROOM_PG_USER} or postgres). The
 * databases it creates ({@code qbench_headroom_*}, {@code qbench_dbs_*}) are dropped at the end of
 * each run. {@code --warmup} unrecorded plain runs of each side (10,000 jobs at most) come first,
 * so that neither side's first recorded run includes its JIT warm-up.
 */
public final class QueueThroughputHarness {
    private static final int WORKER_THREADS = 16;
    private static final int ENQUEUE_THREADS = 8;
    private static final int BACKLOG_BATCH = 50_000;
    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(5);

    /** What else is in the database during a run. */
    enum Variant {
        PLAIN,
        BACKLOG,
        PINNED;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final QueueBenchDatabases databases;
    private final int jobs;
    private final boolean perSecond;
    private final int prefetch;
    private final int backlog;

    private QueueThroughputHarness(
            QueueBenchDatabases databases, int jobs, boolean perSecond, int prefetch, int backlog) {
        this.databases = databases;
        this.jobs = jobs;
        this.perSecond = perSecond;
        this.prefetch = prefetch;
        this.backlog = backlog;
    }

    /** One run's result. */
    private record Result(
            String side,
            Variant variant,
            int round,
            double enqueuePerSecond,
            double processPerSecond,
            String profile) {}

    /** Jobs in each warm-up run. */
    private static final int WARMUP_JOBS = 10_000;

    public static void main(String[] args) throws Exception {
        int jobs = 20_000;
        int rounds = 2;
        boolean perSecond = false;
        int prefetch = 0;
        int backlog = 1_000_000;
        int warmup = 1;
        Set<Variant> variants = EnumSet.of(Variant.PLAIN);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--jobs" -> jobs = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--per-second" -> perSecond = true;
                case "--prefetch" -> prefetch = Integer.parseInt(args[++i]);
                case "--backlog" -> backlog = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--variants" -> {
                    variants = EnumSet.noneOf(Variant.class);
                    for (String v : args[++i].split(",")) {
                        variants.add(Variant.valueOf(v.trim().toUpperCase(Locale.ROOT)));
                    }
                }
                default ->
                    throw new IllegalArgumentException("unknown argument '" + args[i]
                            + "'; usage: [--jobs N] [--rounds R] [--per-second] [--prefetch N]"
                            + " [--variants plain,backlog,pinned] [--backlog N] [--warmup N]");
            }
        }
        QueueBenchDatabases databases = QueueBenchDatabases.fromEnvironment();
        QueueThroughputHarness h = new QueueThroughputHarness(databases, jobs, perSecond, prefetch, backlog);

        System.out.printf(
                Locale.ROOT,
                "machine: %d cores, JDK %s (%s), %s %s; PostgreSQL %s at %s%n",
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                System.getProperty("java.vm.name"),
                System.getProperty("os.name"),
                System.getProperty("os.arch"),
                databases.serverVersion(),
                databases.adminUrl);
        System.out.printf(
                Locale.ROOT,
                "workload: %d no-op jobs per run; enqueue: single rows from %d threads; process: %d worker threads;"
                        + " headroom prefetch %d; pool: HikariCP %d connections; rounds: %d; variants: %s"
                        + " (backlog %d); warm-up: %d unrecorded plain run(s) of each side first%n",
                jobs,
                ENQUEUE_THREADS,
                WORKER_THREADS,
                prefetch,
                QueueBenchDatabases.POOL_SIZE,
                rounds,
                variants,
                backlog,
                warmup);

        // Both JVM sides start cold: without this the first recorded run measures the JIT as much
        // as the queue (round 1 plain came out at 0.6 of round 2 on a quiet machine).
        QueueThroughputHarness warm =
                new QueueThroughputHarness(databases, Math.min(jobs, WARMUP_JOBS), false, prefetch, backlog);
        for (int i = 1; i <= warmup; i++) {
            System.out.print("warm-up, not recorded: ");
            print(warm.runHeadroom(0, Variant.PLAIN));
            System.out.print("warm-up, not recorded: ");
            print(warm.runDbScheduler(0, Variant.PLAIN));
        }

        List<Result> results = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            for (Variant variant : variants) {
                results.add(print(h.runHeadroom(round, variant)));
                results.add(print(h.runDbScheduler(round, variant)));
            }
        }

        System.out.println();
        System.out.println("| variant | round | headroom enqueue/s | db-scheduler enqueue/s | headroom process/s"
                + " | db-scheduler process/s | process ratio headroom/db-scheduler"
                + " | headroom process vs its plain run |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (int i = 0; i < results.size(); i += 2) {
            Result hr = results.get(i);
            Result db = results.get(i + 1);
            String vsPlain = "";
            for (Result r : results) {
                if (r.side().equals("headroom") && r.round() == hr.round() && r.variant() == Variant.PLAIN) {
                    vsPlain = String.format(Locale.ROOT, "%.2f", hr.processPerSecond() / r.processPerSecond());
                }
            }
            System.out.printf(
                    Locale.ROOT,
                    "| %s | %d | %,.0f | %,.0f | %,.0f | %,.0f | %.2f | %s |%n",
                    hr.variant().label(),
                    hr.round(),
                    hr.enqueuePerSecond(),
                    db.enqueuePerSecond(),
                    hr.processPerSecond(),
                    db.processPerSecond(),
                    hr.processPerSecond() / db.processPerSecond(),
                    vsPlain);
        }
    }

    private static Result print(Result r) {
        System.out.printf(
                Locale.ROOT,
                "run %d %-8s %-12s enqueue %,9.0f jobs/s   process %,9.0f jobs/s   %s%n",
                r.round(),
                r.variant().label(),
                r.side(),
                r.enqueuePerSecond(),
                r.processPerSecond(),
                r.profile());
        return r;
    }

    private Result runHeadroom(int round, Variant variant) throws Exception {
        String db = databases.create("qbench_headroom_");
        try (HikariDataSource ds = databases.pool(db)) {
            PostgresJobStore postgres = PostgresJobStore.create(ds);
            postgres.createSchema();
            CountingJobStore store = new CountingJobStore(postgres);
            try (JobQueue queue = JobQueue.builder(store).build()) {
                byte[] payload = new byte[0];
                if (variant == Variant.BACKLOG) {
                    EnqueueOptions tomorrow = EnqueueOptions.builder()
                            .runAt(Instant.now().plus(Duration.ofDays(1)))
                            .build();
                    List<NewJob> batch = new ArrayList<>();
                    for (int i = 0; i < BACKLOG_BATCH; i++) {
                        batch.add(NewJob.of("backlog", payload, tomorrow));
                    }
                    for (int done = 0; done < backlog; done += BACKLOG_BATCH) {
                        queue.enqueueAll(batch.subList(0, Math.min(BACKLOG_BATCH, backlog - done)));
                    }
                    QueueBenchDatabases.execute(ds, "VACUUM ANALYZE headroom_job");
                }
                long firstId = QueueBenchDatabases.count(ds, "SELECT COALESCE(max(id), 0) FROM headroom_job");
                String remaining = "SELECT count(*) FROM headroom_job WHERE id > " + firstId;
                try (Pin pin = pin(variant, db)) {
                    String before = QueueBenchDatabases.size(ds, "headroom_job");
                    double enqueue = enqueue(i -> queue.enqueue("noop", payload));

                    AtomicLong ran = new AtomicLong();
                    JobWorker worker = JobWorker.builder(queue)
                            .queue("default", WORKER_THREADS)
                            .prefetch(prefetch)
                            .handler("noop", Codec.byteArray(), (p, ctx) -> ran.incrementAndGet())
                            .build();
                    long start = System.nanoTime();
                    worker.start();
                    long end = awaitDone(ds, remaining, ran, start, store);
                    worker.shutdown(Duration.ofSeconds(10));
                    double process = jobs / QueueBenchDatabases.seconds(end - start);
                    String after = QueueBenchDatabases.size(ds, "headroom_job");
                    String profile = String.format(
                            Locale.ROOT,
                            "[claims %d (avg %.1f jobs, asked avg %.1f, %d short -> wait for wakeup/poll, avg %.2f ms);"
                                    + " completeAll %d (avg %.1f jobs, avg %.2f ms); NOTIFY wakeups %d]%n"
                                    + "      before: %s%n      after:  %s",
                            store.claimCalls.get(),
                            (double) store.claimed.get() / Math.max(1, store.claimCalls.get()),
                            (double) store.claimAsked.get() / Math.max(1, store.claimCalls.get()),
                            store.shortClaims.get(),
                            store.claimNanos.get() / 1e6 / Math.max(1, store.claimCalls.get()),
                            store.completeCalls.get(),
                            (double) store.completed.get() / Math.max(1, store.completeCalls.get()),
                            store.completeNanos.get() / 1e6 / Math.max(1, store.completeCalls.get()),
                            store.wakeups.get(),
                            before,
                            after);
                    return new Result("headroom", variant, round, enqueue, process, profile);
                }
            }
        } finally {
            databases.drop(db);
        }
    }

    private Result runDbScheduler(int round, Variant variant) throws Exception {
        String db = databases.create("qbench_dbs_");
        try (HikariDataSource ds = databases.pool(db)) {
            QueueBenchDatabases.execute(ds, QueueBenchDatabases.DB_SCHEDULER_DDL);
            AtomicLong ran = new AtomicLong();
            OneTimeTask<Void> task = Tasks.oneTime("noop").execute((instance, ctx) -> ran.incrementAndGet());
            OneTimeTask<Void> later = Tasks.oneTime("backlog").execute((instance, ctx) -> {});
            SchedulerClient client =
                    SchedulerClient.Builder.create(ds, task, later).build();
            if (variant == Variant.BACKLOG) {
                Instant tomorrow = Instant.now().plus(Duration.ofDays(1));
                for (int done = 0; done < backlog; done += BACKLOG_BATCH) {
                    List<TaskInstance<?>> batch = new ArrayList<>();
                    for (int i = done; i < Math.min(backlog, done + BACKLOG_BATCH); i++) {
                        batch.add(later.instance("backlog-" + i));
                    }
                    client.scheduleBatch(batch, tomorrow);
                }
                QueueBenchDatabases.execute(ds, "VACUUM ANALYZE scheduled_tasks");
            }
            String remaining = "SELECT count(*) FROM scheduled_tasks WHERE task_name = 'noop'";
            try (Pin pin = pin(variant, db)) {
                String before = QueueBenchDatabases.size(ds, "scheduled_tasks");
                double enqueue = enqueue(i -> client.schedule(task.instance("job-" + i), Instant.now()));

                Scheduler scheduler = Scheduler.create(ds, task, later)
                        .threads(WORKER_THREADS)
                        .pollUsingLockAndFetch(0.5, 3.0)
                        .build();
                long start = System.nanoTime();
                scheduler.start();
                long end;
                try {
                    end = awaitDone(ds, remaining, ran, start, null);
                } finally {
                    scheduler.stop();
                }
                double process = jobs / QueueBenchDatabases.seconds(end - start);
                String after = QueueBenchDatabases.size(ds, "scheduled_tasks");
                return new Result(
                        "db-scheduler",
                        variant,
                        round,
                        enqueue,
                        process,
                        String.format(Locale.ROOT, "%n      before: %s%n      after:  %s", before, after));
            }
        } finally {
            databases.drop(db);
        }
    }

    /** A transaction holding the database's xmin back while open, for {@link Variant#PINNED}. */
    private static final class Pin implements AutoCloseable {
        private final @Nullable Connection connection;

        Pin(@Nullable Connection connection) {
            this.connection = connection;
        }

        @Override
        public void close() throws SQLException {
            if (connection != null) {
                connection.rollback();
                connection.close();
            }
        }
    }

    private Pin pin(Variant variant, String db) throws SQLException {
        if (variant != Variant.PINNED) {
            return new Pin(null);
        }
        Connection c = databases.connect(db);
        c.setAutoCommit(false);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        try (Statement s = c.createStatement()) {
            s.execute("SELECT txid_current()");
        }
        return new Pin(c);
    }

    /** Enqueues {@code jobs} jobs from {@value #ENQUEUE_THREADS} threads; returns jobs/s. */
    private double enqueue(IntConsumer enqueueOne) throws InterruptedException {
        long start = System.nanoTime();
        QueueBenchDatabases.inThreads(ENQUEUE_THREADS, jobs, enqueueOne);
        return jobs / QueueBenchDatabases.seconds(System.nanoTime() - start);
    }

    /**
     * Waits until the handler ran {@code jobs} times and {@code remainingSql} counts no row
     * (completed jobs are deleted on both sides); returns the nano time it saw that.
     */
    private long awaitDone(
            HikariDataSource ds, String remainingSql, AtomicLong ran, long start, @Nullable CountingJobStore store)
            throws Exception {
        long deadline = start + RUN_TIMEOUT.toNanos();
        long nextSecond = start + 1_000_000_000L;
        long lastRan = 0;
        long lastClaims = 0;
        long lastCompleted = 0;
        while (true) {
            long now = System.nanoTime();
            if (perSecond && now >= nextSecond) {
                long r = ran.get();
                String extra = "";
                if (store != null) {
                    long claims = store.claimCalls.get();
                    long completed = store.completed.get();
                    extra = String.format(
                            Locale.ROOT,
                            "  claims/s %d  completed/s %d",
                            claims - lastClaims,
                            completed - lastCompleted);
                    lastClaims = claims;
                    lastCompleted = completed;
                }
                System.out.printf(
                        Locale.ROOT,
                        "    t=%.0fs  handled/s %d%s%n",
                        QueueBenchDatabases.seconds(now - start),
                        r - lastRan,
                        extra);
                lastRan = r;
                nextSecond += 1_000_000_000L;
            }
            if (ran.get() >= jobs && QueueBenchDatabases.count(ds, remainingSql) == 0) {
                return System.nanoTime();
            }
            if (now > deadline) {
                throw new IllegalStateException(
                        remainingSql + ": not done after " + RUN_TIMEOUT + ", handled " + ran.get() + " of " + jobs);
            }
            Thread.sleep(ran.get() >= jobs ? 2 : 10);
        }
    }
}
