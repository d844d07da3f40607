package dev.headroom.queue.process;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.queue.JobContext;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A worker JVM of {@code QueueChaosCheckerIT}: consumes the default queue with a transactional
 * handler ({@code tx}: its effect row commits with the completion) and a plain one ({@code plain}:
 * its effect row commits on its own, at-least-once), each failing now and then. Every connection
 * carries {@code application_name = chaos-<name>}, so the checker can terminate them. Arguments:
 * JDBC URL (schema included), worker name, {@code honest} or {@code sabotage}: a sabotaged worker's
 * transactional handler writes its effect on a connection of its own (so a failure after the write
 * leaves it behind, and the retry writes it again) and its plain handler skips the write of one job
 * in 50 (the job completes with no effect): the checker must see both.
 */
public final class ChaosWorkerProcess {

    private ChaosWorkerProcess() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        String name = args[1];
        boolean sabotage = args.length > 2 && args[2].equals("sabotage");
        // Pooled, as in production: a new PostgreSQL session per operation costs ~20 ms of CPU on
        // some of these machines, which made the workers crawl. pg_terminate_backend still hits
        // pooled sessions; the pool replaces them.
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(args[0]);
        if (!args[0].contains("user=")) {
            config.setUsername("postgres");
        }
        config.addDataSourceProperty("ApplicationName", "chaos-" + name);
        config.setMaximumPoolSize(16);
        config.setPoolName("chaos-" + name);
        HikariDataSource ds = new HikariDataSource(config);
        JobQueue queue = JobQueue.builder(PostgresJobStore.create(ds))
                .worker(name)
                .backoff(Backoff.builder()
                        .base(Duration.ofMillis(10))
                        .cap(Duration.ofMillis(200))
                        .maxAttempts(Integer.MAX_VALUE)
                        .build())
                .build();
        JobWorker.builder(queue)
                .queue("default", 8)
                .lease(Duration.ofSeconds(2))
                .pollInterval(Duration.ofMillis(200))
                .transactionalHandler("tx", Codec.utf8(), (payload, ctx) -> {
                    work(); // so that kills and terminations land inside handlers too
                    if (sabotage) {
                        try (Connection outside = ds.getConnection()) {
                            record(outside, ctx, name, "tx");
                        }
                    } else {
                        record(ctx.connection(), ctx, name, "tx");
                    }
                    if (ThreadLocalRandom.current().nextInt(20) == 0) {
                        throw new IllegalStateException("tx handler failed after its write (rolled back)");
                    }
                })
                .handler("plain", Codec.utf8(), (payload, ctx) -> {
                    work();
                    if (ThreadLocalRandom.current().nextInt(20) == 0) {
                        throw new IllegalStateException("plain handler failed before its write");
                    }
                    if (sabotage && ctx.job().id().value() % 50 == 0) {
                        return;
                    }
                    try (Connection c = ds.getConnection()) {
                        record(c, ctx, name, "plain");
                    }
                })
                .build()
                .start();
        out.println("READY");
        new CountDownLatch(1).await(); // until killed
    }

    /** A handler's own work: 20-80 ms of waiting on something, as a call to a service would. */
    private static void work() throws InterruptedException {
        Thread.sleep(20 + ThreadLocalRandom.current().nextInt(60));
    }

    private static void record(Connection c, JobContext ctx, String worker, String kind) throws SQLException {
        try (PreparedStatement ps =
                c.prepareStatement("INSERT INTO chaos_effects (job_id, attempt, worker, kind) VALUES (?, ?, ?, ?)")) {
            ps.setLong(1, ctx.job().id().value());
            ps.setInt(2, ctx.job().attempt());
            ps.setString(3, worker);
            ps.setString(4, kind);
            ps.executeUpdate();
        }
    }
}
