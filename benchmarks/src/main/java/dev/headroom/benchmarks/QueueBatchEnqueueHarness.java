package dev.headroom.benchmarks;

import com.github.kagkarlsson.scheduler.SchedulerClient;
import com.github.kagkarlsson.scheduler.task.TaskInstance;
import com.github.kagkarlsson.scheduler.task.helper.OneTimeTask;
import com.github.kagkarlsson.scheduler.task.helper.Tasks;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.NewJob;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Batch enqueue beside single enqueues, Headroom ({@code enqueueAll}, one transaction per batch,
 * columns sent as arrays) and db-scheduler ({@code SchedulerClient.scheduleBatch}, a JDBC batch),
 * interleaved in each round, every measurement in a fresh database. Single enqueues: {@value
 * #SINGLE_THREADS} threads, auto-commit, one row each. Batches: one thread, {@code --batch} jobs
 * per call. Prints jobs/s and the batch/single ratio per side.
 *
 * <p>Run: {@code scripts/queue-bench batch [--jobs 100000] [--batch 10000] [--rounds 2]};
 * PostgreSQL as for {@link QueueThroughputHarness}.
 */
public final class QueueBatchEnqueueHarness {
    private static final int SINGLE_THREADS = 8;

    private QueueBatchEnqueueHarness() {}

    @FunctionalInterface
    private interface Load {
        void run(HikariDataSource ds) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        int jobs = 100_000;
        int batch = 10_000;
        int rounds = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--jobs" -> jobs = Integer.parseInt(args[++i]);
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default ->
                    throw new IllegalArgumentException(
                            "unknown argument '" + args[i] + "'; usage: batch [--jobs N] [--batch N] [--rounds R]");
            }
        }
        QueueBenchDatabases databases = QueueBenchDatabases.fromEnvironment();
        System.out.printf(
                Locale.ROOT,
                "machine: %d cores, JDK %s, PostgreSQL %s; %,d empty-payload jobs per measurement;"
                        + " single: %d threads; batch: 1 thread, %,d per call%n",
                Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.version"),
                databases.serverVersion(),
                jobs,
                SINGLE_THREADS,
                batch);
        int n = jobs;
        int size = batch;
        System.out.println("| round | headroom single/s | headroom batch/s | headroom batch/single"
                + " | db-scheduler single/s | db-scheduler batch/s | db-scheduler batch/single"
                + " | headroom batch / db-scheduler batch |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        for (int round = 1; round <= rounds; round++) {
            double hSingle = measure(databases, true, n, ds -> headroom(ds, n, 0));
            double hBatch = measure(databases, true, n, ds -> headroom(ds, n, size));
            double dSingle = measure(databases, false, n, ds -> dbScheduler(ds, n, 0));
            double dBatch = measure(databases, false, n, ds -> dbScheduler(ds, n, size));
            System.out.printf(
                    Locale.ROOT,
                    "| %d | %,.0f | %,.0f | %.1f | %,.0f | %,.0f | %.1f | %.2f |%n",
                    round,
                    hSingle,
                    hBatch,
                    hBatch / hSingle,
                    dSingle,
                    dBatch,
                    dBatch / dSingle,
                    hBatch / dBatch);
        }
    }

    /** Runs one load in a fresh database; returns jobs/s, checked against the rows it left. */
    private static double measure(QueueBenchDatabases databases, boolean headroom, int jobs, Load load)
            throws Exception {
        String db = databases.create(headroom ? "qbench_batch_h_" : "qbench_batch_d_");
        try (HikariDataSource ds = databases.pool(db)) {
            if (headroom) {
                PostgresJobStore.create(ds).createSchema();
            } else {
                QueueBenchDatabases.execute(ds, QueueBenchDatabases.DB_SCHEDULER_DDL);
            }
            long start = System.nanoTime();
            load.run(ds);
            double perSecond = jobs / QueueBenchDatabases.seconds(System.nanoTime() - start);
            long rows = QueueBenchDatabases.count(
                    ds, headroom ? "SELECT count(*) FROM headroom_job" : "SELECT count(*) FROM scheduled_tasks");
            if (rows != jobs) {
                throw new IllegalStateException(db + " holds " + rows + " jobs, expected " + jobs);
            }
            return perSecond;
        } finally {
            databases.drop(db);
        }
    }

    private static void headroom(HikariDataSource ds, int jobs, int batch) throws Exception {
        try (JobQueue queue = JobQueue.builder(PostgresJobStore.create(ds)).build()) {
            byte[] payload = new byte[0];
            if (batch == 0) {
                QueueBenchDatabases.inThreads(SINGLE_THREADS, jobs, i -> queue.enqueue("noop", payload));
                return;
            }
            for (int done = 0; done < jobs; done += batch) {
                List<NewJob> chunk = new ArrayList<>(batch);
                for (int i = done; i < Math.min(jobs, done + batch); i++) {
                    chunk.add(NewJob.of("noop", payload, EnqueueOptions.defaults()));
                }
                queue.enqueueAll(chunk);
            }
        }
    }

    private static void dbScheduler(HikariDataSource ds, int jobs, int batch) throws Exception {
        OneTimeTask<Void> task = Tasks.oneTime("noop").execute((instance, ctx) -> {});
        SchedulerClient client = SchedulerClient.Builder.create(ds, task).build();
        Instant now = Instant.now();
        if (batch == 0) {
            QueueBenchDatabases.inThreads(SINGLE_THREADS, jobs, i -> client.schedule(task.instance("job-" + i), now));
            return;
        }
        for (int done = 0; done < jobs; done += batch) {
            List<TaskInstance<?>> chunk = new ArrayList<>(batch);
            for (int i = done; i < Math.min(jobs, done + batch); i++) {
                chunk.add(task.instance("job-" + i));
            }
            client.scheduleBatch(chunk, now);
        }
    }
}
