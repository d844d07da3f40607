package dev.headroom.benchmarks;

import com.github.kagkarlsson.scheduler.Scheduler;
import com.github.kagkarlsson.scheduler.SchedulerClient;
import com.github.kagkarlsson.scheduler.task.helper.OneTimeTask;
import com.github.kagkarlsson.scheduler.task.helper.Tasks;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Codec;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
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
 * <p>Run: {@code scripts/queue-bench [--jobs 20000] [--rounds 2] [--per-second] [--prefetch 0]} with PostgreSQL at
 * {@code HEADROOM_PG_URL} or jdbc:postgresql://127.0.0.1:5432/test (user {@code HEADROOM_PG_USER}
 * or postgres). The databases it creates ({@code qbench_headroom_*}, {@code qbench_dbs_*}) are
 * dropped at the end of each run.
 */
public final class QueueThroughputHarness {
    private static final int POOL_SIZE = 24;
    private static final int WORKER_THREADS = 16;
    private static final int ENQUEUE_THREADS = 8;
    private static final Duration RUN_TIMEOUT = Duration.ofMinutes(5);

    /** db-scheduler's PostgreSQL DDL (db-scheduler/src/test/resources/postgresql_tables.sql). */
    private static final String DB_SCHEDULER_DDL = """
            create table scheduled_tasks (
              task_name text not null,
              task_instance text not null,
              task_data bytea,
              execution_time timestamp with time zone not null,
              picked BOOLEAN not null,
              picked_by text,
              last_success timestamp with time zone,
              last_failure timestamp with time zone,
              consecutive_failures INT,
              last_heartbeat timestamp with time zone,
              version BIGINT not null,
              priority SMALLINT,
              PRIMARY KEY (task_name, task_instance)
            );
            CREATE INDEX execution_time_idx ON scheduled_tasks (execution_time);
            CREATE INDEX last_heartbeat_idx ON scheduled_tasks (last_heartbeat);
            CREATE INDEX priority_execution_time_idx on scheduled_tasks (priority desc, execution_time asc);
            """;

    private final String adminUrl;
    private final String user;
    private final int jobs;
    private final boolean perSecond;
    private final int prefetch;

    private QueueThroughputHarness(String adminUrl, String user, int jobs, boolean perSecond, int prefetch) {
        this.adminUrl = adminUrl;
        this.user = user;
        this.jobs = jobs;
        this.perSecond = perSecond;
        this.prefetch = prefetch;
    }

    /** One run's result. */
    private record Result(String side, int round, double enqueuePerSecond, double processPerSecond, String profile) {}

    public static void main(String[] args) throws Exception {
        int jobs = 20_000;
        int rounds = 2;
        boolean perSecond = false;
        int prefetch = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--jobs" -> jobs = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--per-second" -> perSecond = true;
                case "--prefetch" -> prefetch = Integer.parseInt(args[++i]);
                default ->
                    throw new IllegalArgumentException("unknown argument '" + args[i]
                            + "'; usage: [--jobs N] [--rounds R] [--per-second] [--prefetch N]");
            }
        }
        String url = env("HEADROOM_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test");
        String user = env("HEADROOM_PG_USER", "postgres");
        QueueThroughputHarness h = new QueueThroughputHarness(url, user, jobs, perSecond, prefetch);

        System.out.printf(
                Locale.ROOT,
                "machine: %d cores, JDK %s (%s), %s %s; PostgreSQL %s at %s%n",
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                System.getProperty("java.vm.name"),
                System.getProperty("os.name"),
                System.getProperty("os.arch"),
                h.serverVersion(),
                url);
        System.out.printf(
                Locale.ROOT,
                "workload: %d no-op jobs per run; enqueue: single rows from %d threads; process: %d worker threads;"
                        + " headroom prefetch %d; pool: HikariCP %d connections; rounds: %d%n",
                jobs,
                ENQUEUE_THREADS,
                WORKER_THREADS,
                prefetch,
                POOL_SIZE,
                rounds);

        List<Result> results = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            results.add(print(h.runHeadroom(round)));
            results.add(print(h.runDbScheduler(round)));
        }

        System.out.println();
        System.out.println("| round | headroom enqueue/s | db-scheduler enqueue/s | headroom process/s"
                + " | db-scheduler process/s | process ratio headroom/db-scheduler |");
        System.out.println("|---|---|---|---|---|---|");
        for (int round = 1; round <= rounds; round++) {
            Result hr = results.get(2 * (round - 1));
            Result db = results.get(2 * (round - 1) + 1);
            System.out.printf(
                    Locale.ROOT,
                    "| %d | %,.0f | %,.0f | %,.0f | %,.0f | %.2f |%n",
                    round,
                    hr.enqueuePerSecond(),
                    db.enqueuePerSecond(),
                    hr.processPerSecond(),
                    db.processPerSecond(),
                    hr.processPerSecond() / db.processPerSecond());
        }
    }

    private static Result print(Result r) {
        System.out.printf(
                Locale.ROOT,
                "run %d %-12s enqueue %,9.0f jobs/s   process %,9.0f jobs/s   %s%n",
                r.round(),
                r.side(),
                r.enqueuePerSecond(),
                r.processPerSecond(),
                r.profile());
        return r;
    }

    private Result runHeadroom(int round) throws Exception {
        String db = createDatabase("qbench_headroom_");
        try (HikariDataSource ds = pool(db)) {
            PostgresJobStore postgres = PostgresJobStore.create(ds);
            postgres.createSchema();
            CountingJobStore store = new CountingJobStore(postgres);
            try (JobQueue queue = JobQueue.builder(store).build()) {
                byte[] payload = new byte[0];
                double enqueue = enqueue(i -> queue.enqueue("noop", payload));

                AtomicLong ran = new AtomicLong();
                JobWorker worker = JobWorker.builder(queue)
                        .queue("default", WORKER_THREADS)
                        .prefetch(prefetch)
                        .handler("noop", Codec.byteArray(), (p, ctx) -> ran.incrementAndGet())
                        .build();
                long start = System.nanoTime();
                worker.start();
                long end = awaitDone(ds, "headroom_job", ran, start, store);
                worker.shutdown(Duration.ofSeconds(10));
                double process = jobs / seconds(end - start);
                String profile = String.format(
                        Locale.ROOT,
                        "[claims %d (avg %.1f jobs, asked avg %.1f, %d short -> wait for wakeup/poll, avg %.2f ms);"
                                + " completeAll %d (avg %.1f jobs, avg %.2f ms); NOTIFY wakeups %d]",
                        store.claimCalls.get(),
                        (double) store.claimed.get() / Math.max(1, store.claimCalls.get()),
                        (double) store.claimAsked.get() / Math.max(1, store.claimCalls.get()),
                        store.shortClaims.get(),
                        store.claimNanos.get() / 1e6 / Math.max(1, store.claimCalls.get()),
                        store.completeCalls.get(),
                        (double) store.completed.get() / Math.max(1, store.completeCalls.get()),
                        store.completeNanos.get() / 1e6 / Math.max(1, store.completeCalls.get()),
                        store.wakeups.get());
                return new Result("headroom", round, enqueue, process, profile);
            }
        } finally {
            dropDatabase(db);
        }
    }

    private Result runDbScheduler(int round) throws Exception {
        String db = createDatabase("qbench_dbs_");
        try (HikariDataSource ds = pool(db)) {
            try (Connection c = ds.getConnection();
                    Statement s = c.createStatement()) {
                s.execute(DB_SCHEDULER_DDL);
            }
            AtomicLong ran = new AtomicLong();
            OneTimeTask<Void> task = Tasks.oneTime("noop").execute((instance, ctx) -> ran.incrementAndGet());
            SchedulerClient client = SchedulerClient.Builder.create(ds, task).build();
            double enqueue = enqueue(i -> client.schedule(task.instance("job-" + i), Instant.now()));

            Scheduler scheduler = Scheduler.create(ds, task)
                    .threads(WORKER_THREADS)
                    .pollUsingLockAndFetch(0.5, 3.0)
                    .build();
            long start = System.nanoTime();
            scheduler.start();
            long end;
            try {
                end = awaitDone(ds, "scheduled_tasks", ran, start, null);
            } finally {
                scheduler.stop();
            }
            double process = jobs / seconds(end - start);
            return new Result("db-scheduler", round, enqueue, process, "");
        } finally {
            dropDatabase(db);
        }
    }

    /** Enqueues {@code jobs} jobs from {@value #ENQUEUE_THREADS} threads; returns jobs/s. */
    private double enqueue(IntConsumer enqueueOne) throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        AtomicLong failures = new AtomicLong();
        long start = System.nanoTime();
        for (int t = 0; t < ENQUEUE_THREADS; t++) {
            int first = t;
            Thread thread = new Thread(
                    () -> {
                        for (int i = first; i < jobs; i += ENQUEUE_THREADS) {
                            try {
                                enqueueOne.accept(i);
                            } catch (RuntimeException e) {
                                if (failures.getAndIncrement() == 0) {
                                    e.printStackTrace();
                                }
                            }
                        }
                    },
                    "qbench-enqueue-" + t);
            threads.add(thread);
            thread.start();
        }
        for (Thread thread : threads) {
            thread.join();
        }
        long elapsed = System.nanoTime() - start;
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " enqueues failed");
        }
        return jobs / seconds(elapsed);
    }

    /**
     * Waits until the handler ran {@code jobs} times and the table holds no row (completed jobs
     * are deleted on both sides); returns the nano time it saw that.
     */
    private long awaitDone(
            HikariDataSource ds, String table, AtomicLong ran, long start, @Nullable CountingJobStore store)
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
                        Locale.ROOT, "    t=%.0fs  handled/s %d%s%n", seconds(now - start), r - lastRan, extra);
                lastRan = r;
                nextSecond += 1_000_000_000L;
            }
            if (ran.get() >= jobs && remaining(ds, table) == 0) {
                return System.nanoTime();
            }
            if (now > deadline) {
                throw new IllegalStateException(
                        table + ": not done after " + RUN_TIMEOUT + ", handled " + ran.get() + " of " + jobs);
            }
            Thread.sleep(ran.get() >= jobs ? 2 : 10);
        }
    }

    private static long remaining(HikariDataSource ds, String table) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private HikariDataSource pool(String db) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(urlOf(db));
        config.setUsername(user);
        config.setMaximumPoolSize(POOL_SIZE);
        config.setPoolName("qbench-" + db);
        return new HikariDataSource(config);
    }

    private String urlOf(String db) {
        int slash = adminUrl.lastIndexOf('/');
        int query = adminUrl.indexOf('?', slash);
        return adminUrl.substring(0, slash + 1) + db + (query < 0 ? "" : adminUrl.substring(query));
    }

    private String createDatabase(String prefix) throws SQLException {
        String db = prefix + Long.toString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
        admin("CREATE DATABASE " + db);
        return db;
    }

    private void dropDatabase(String db) throws SQLException {
        admin("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    }

    private void admin(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(adminUrl, user, null);
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private String serverVersion() throws SQLException {
        try (Connection c = DriverManager.getConnection(adminUrl, user, null);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SHOW server_version")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}
