package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Codec;
import dev.headroom.queue.postgres.PostgresJobStore;
import dev.headroom.queue.process.ChaosWorkerProcess;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The queue's randomized chaos checker: 10,000 jobs (half with a transactional handler, half with
 * a plain one) consumed by 3 worker JVMs while, on a seeded schedule, one worker is killed with
 * SIGKILL and replaced, or a worker's database connection is terminated ({@code
 * pg_terminate_backend}). The history is the effects table the handlers write (job, attempt,
 * worker, kind) and the queue's own tables; over it the checker counts lost jobs (no committed
 * effect, not dead: must be 0), transactional effects applied twice (must be 0) and plain
 * re-executions (allowed after faults; printed). At most 60 faults per run, then the rest drains. {@code -Dqueue.chaos.seed} and {@code
 * -Dqueue.chaos.jobs} set the run. A second, smaller run with sabotaged workers (the transactional
 * handler writes outside the job's transaction, the plain one skips some writes) shows the checker
 * sees both kinds of violation.
 */
@ExtendWith(HeadroomServices.class)
class QueueChaosCheckerIT {

    private static final int WORKERS = 3;
    private static final Duration DEADLINE = Duration.ofMinutes(5);
    /** Faults (kills and terminated connections together) after which the run drains undisturbed. */
    private static final int MAX_FAULTS = 60;

    @Test
    void noJobIsLostAndNoTransactionalEffectIsAppliedTwiceWhileWorkersAreKilled(TestDatabase db) throws Exception {
        long seed = Long.getLong("queue.chaos.seed", 20261204L);
        int jobs = Integer.getInteger("queue.chaos.jobs", 10_000);
        Run run = run(db, seed, jobs, false);
        Report r = run.report();
        String text = run.text();
        assertThat(r.lost).as("jobs lost%s", text).isZero();
        assertThat(r.txTwice).as("transactional effects applied twice%s", text).isZero();
        assertThat(r.dead).as("dead letters (50 attempts each)%s", text).isZero();
        assertThat(r.succeeded + r.dead).as(text).isEqualTo(jobs);
        assertThat(run.faults().getOrDefault("workerKilled", 0)).as(text).isPositive();
    }

    @Test
    void theCheckerSeesLostJobsAndDoubleEffectsFromSabotagedWorkers(TestDatabase db) throws Exception {
        Run run = run(db, 7L, 400, true);
        assertThat(run.report().lost)
                .as("jobs the sabotaged plain handler skipped%s", run.text())
                .isPositive();
        assertThat(run.report().txTwice)
                .as("tx effects written outside the job's transaction, then failed and retried%s", run.text())
                .isPositive();
    }

    private record Run(Report report, Map<String, Integer> faults, String text) {}

    private Run run(TestDatabase db, long seed, int jobs, boolean sabotage) throws Exception {
        Random random = new Random(seed);
        PostgresJobStore store = PostgresJobStore.create(db.dataSource());
        store.createSchema();
        db.execute("CREATE TABLE chaos_effects (job_id bigint NOT NULL, attempt int NOT NULL, worker text NOT NULL,"
                + " kind text NOT NULL)");
        JobQueue queue = JobQueue.builder(store).build();
        Map<String, Integer> faults = new LinkedHashMap<>();
        db.execute("CREATE TABLE chaos_jobs (id bigint PRIMARY KEY)");
        try (Connection c = db.connect();
                PreparedStatement enqueued = c.prepareStatement("INSERT INTO chaos_jobs (id) VALUES (?)")) {
            c.setAutoCommit(false);
            for (int i = 0; i < jobs; i++) {
                String kind = random.nextBoolean() ? "tx" : "plain";
                JobId id = queue.enqueue(
                        c,
                        kind,
                        "job-" + i,
                        Codec.utf8(),
                        EnqueueOptions.builder().maxAttempts(50).build());
                enqueued.setLong(1, id.value());
                enqueued.executeUpdate();
                if (i % 500 == 499) {
                    c.commit();
                }
            }
            c.commit();
        }
        List<Process> workers = new ArrayList<>();
        int launched = 0;
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        try {
            for (; launched < WORKERS; launched++) {
                workers.add(launch(db, "w" + launched, sabotage));
            }
            while (pending(db) > 0) {
                assertThat(System.nanoTime() - deadline)
                        .as("all jobs done within %s (seed %d); %s", DEADLINE, seed, faults)
                        .isNegative();
                // a fault every 0.3-1 s, the seed choosing which and whom
                TimeUnit.MILLISECONDS.sleep(300 + random.nextInt(700)); // a fault: the schedule's gap
                if (faults.values().stream().mapToInt(Integer::intValue).sum() >= MAX_FAULTS) {
                    // Budget spent: the rest drains without faults. Without a budget a loaded
                    // machine (each restarted JVM slow to start) could make no progress at all.
                    continue;
                }
                if (random.nextInt(3) == 0) {
                    int victim = random.nextInt(workers.size());
                    workers.get(victim).destroyForcibly().waitFor();
                    workers.set(victim, launch(db, "w" + launched++, sabotage));
                    faults.merge("workerKilled", 1, Integer::sum);
                } else {
                    int terminated = terminateOneConnection(db, random);
                    faults.merge("connectionsTerminated", terminated, Integer::sum);
                }
            }
        } finally {
            for (Process p : workers) {
                p.destroyForcibly();
            }
        }
        Report r = report(db, jobs);
        String text = "\n=== queue chaos checker" + (sabotage ? " (SABOTAGED workers)" : "") + ": seed " + seed + ", "
                + jobs + " jobs, " + WORKERS + " worker JVMs, faults " + faults + "\n" + r + "\n";
        System.out.println(text);
        return new Run(r, faults, text);
    }

    private record Report(long succeeded, long dead, long lost, long txTwice, long plainReexecuted, long attemptsMax) {
        @Override
        public String toString() {
            return "succeeded " + succeeded + ", dead-lettered " + dead + ", lost " + lost
                    + " (must be 0), transactional effects applied twice " + txTwice
                    + " (must be 0), plain re-executions " + plainReexecuted + " (allowed after faults), most attempts "
                    + attemptsMax;
        }
    }

    private static Report report(TestDatabase db, int jobs) throws SQLException {
        long dead = single(db, "SELECT count(*) FROM headroom_dead_job");
        long withEffect = single(db, "SELECT count(DISTINCT job_id) FROM chaos_effects");
        long lost = single(
                db,
                "SELECT count(*) FROM chaos_jobs g"
                        + " WHERE NOT EXISTS (SELECT 1 FROM chaos_effects e WHERE e.job_id = g.id)"
                        + " AND NOT EXISTS (SELECT 1 FROM headroom_dead_job d WHERE d.id = g.id)");
        long txTwice = single(
                db,
                "SELECT count(*) FROM (SELECT job_id FROM chaos_effects WHERE kind = 'tx'"
                        + " GROUP BY job_id HAVING count(*) > 1) t");
        long plainAgain = single(
                db,
                "SELECT COALESCE(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM chaos_effects WHERE kind = 'plain'"
                        + " GROUP BY job_id) t");
        long attemptsMax = single(db, "SELECT COALESCE(max(attempt), 0) FROM chaos_effects");
        return new Report(withEffect, dead, lost, txTwice, plainAgain, attemptsMax);
    }

    private static long pending(TestDatabase db) throws SQLException {
        return single(db, "SELECT count(*) FROM headroom_job");
    }

    private static long single(TestDatabase db, String sql) throws SQLException {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Terminates one random backend of the workers (claim, listener, handler or completion connection). */
    private static int terminateOneConnection(TestDatabase db, Random random) throws SQLException {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs =
                        s.executeQuery("SELECT count(*) FILTER (WHERE t) FROM (SELECT pg_terminate_backend(pid) AS t"
                                + " FROM pg_stat_activity WHERE application_name LIKE 'chaos-%'"
                                + " ORDER BY md5(pid::text || '" + random.nextInt() + "') LIMIT 1) x")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static Process launch(TestDatabase db, String name, boolean sabotage) throws IOException {
        String javaBin = ProcessHandle.current()
                .info()
                .command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        Process p = new ProcessBuilder(
                        javaBin,
                        "-Xmx128m",
                        "-XX:+UseSerialGC",
                        "-XX:TieredStopAtLevel=1",
                        "-cp",
                        System.getProperty("java.class.path"),
                        ChaosWorkerProcess.class.getName(),
                        db.jdbcUrl(),
                        name,
                        sabotage ? "sabotage" : "honest")
                .redirectErrorStream(true)
                .start();
        drain(p);
        return p;
    }

    /** Reads the worker's output so it never blocks on a full pipe; its warnings go to ours. */
    private static void drain(Process p) {
        CompletableFuture.runAsync(() -> {
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l = r.readLine(); l != null; l = r.readLine()) {
                    if (l.contains("ERROR") || l.contains("Exception in thread")) {
                        System.out.println("[worker] " + l);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }
}
