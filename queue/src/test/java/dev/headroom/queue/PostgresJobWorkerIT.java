package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.queue.postgres.PostgresJobStore;
import dev.headroom.queue.process.HandlerThatHangsProcess;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
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
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@link JobWorker} on the real PostgreSQL: NOTIFY wakeups and exactly-once transactional effects. */
@ExtendWith(HeadroomServices.class)
class PostgresJobWorkerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final String Q = EnqueueOptions.DEFAULT_QUEUE;

    private TestDatabase db;
    private PostgresJobStore store;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final List<JobWorker> workers = new ArrayList<>();

    @BeforeEach
    void createStore(TestDatabase db) throws SQLException {
        this.db = db;
        this.store = PostgresJobStore.create(db.dataSource());
        store.createSchema();
        execute("CREATE TABLE effects (job_id bigint NOT NULL, attempt int NOT NULL)");
    }

    @AfterEach
    void stop() {
        workers.forEach(w -> w.shutdown(Duration.ofSeconds(10)));
    }

    private JobQueue queue(JobStore s) {
        return JobQueue.builder(s)
                .backoff(Backoff.builder()
                        .base(Duration.ofMillis(1))
                        .cap(Duration.ofMillis(5))
                        .maxAttempts(Integer.MAX_VALUE)
                        .build())
                .meterRegistry(registry)
                .build();
    }

    private JobWorker started(JobWorker.Builder b) {
        JobWorker w = b.meterRegistry(registry).build();
        workers.add(w);
        return w.start();
    }

    private void execute(String sql) throws SQLException {
        try (Connection c = db.connect();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private long single(String sql) throws SQLException {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private double counted(String name, String tag, String value) {
        return registry.find(name).tag(tag, value).counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    private static void recordEffect(JobContext ctx) throws SQLException {
        try (PreparedStatement ps =
                ctx.connection().prepareStatement("INSERT INTO effects (job_id, attempt) VALUES (?, ?)")) {
            ps.setLong(1, ctx.job().id().value());
            ps.setInt(2, ctx.job().attempt());
            ps.executeUpdate();
        }
    }

    @Test
    void aCommittedTransactionalEnqueueWakesTheWorkerByNotifyNotByThePoll() throws Exception {
        AtomicInteger claims = new AtomicInteger();
        JobStore counting = new ForwardingJobStore(store) {
            @Override
            public List<ClaimedJob> claim(String q, int max, Duration lease, String worker) {
                List<ClaimedJob> jobs = super.claim(q, max, lease, worker);
                claims.incrementAndGet();
                return jobs;
            }
        };
        JobQueue queue = queue(counting);
        CountDownLatch ran = new CountDownLatch(1);
        started(JobWorker.builder(queue)
                .queue(Q, 1)
                .pollInterval(Duration.ofHours(1))
                .handler("t", Codec.utf8(), (payload, ctx) -> ran.countDown()));
        await().atMost(TIMEOUT).until(() -> claims.get() == 1); // found nothing: now waits an hour
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            JobQueue.builder(store).build().enqueue(c, "t", "x", Codec.utf8(), EnqueueOptions.defaults());
            c.commit(); // the NOTIFY goes out here
        }
        assertThat(ran.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        assertThat(claims.get()).isBetween(2, 3);
    }

    /**
     * Adversary finding: an {@code Error} (not an {@code Exception}) thrown after the handler's write
     * skipped the rollback, and restoring auto-commit then committed the write without the
     * completion: the retry wrote it again.
     */
    @Test
    void aTransactionalHandlerThatThrowsAnErrorAfterItsWriteCommitsNothingAndItsFailureIsRecorded() throws Exception {
        JobQueue queue = queue(store);
        CountDownLatch done = new CountDownLatch(1);
        started(JobWorker.builder(queue)
                .queue(Q, 1)
                .pollInterval(Duration.ofMillis(100))
                .transactionalHandler("t", Codec.utf8(), (payload, ctx) -> {
                    recordEffect(ctx);
                    if (ctx.job().attempt() == 1) {
                        throw new AssertionError("an Error after the write");
                    }
                    done.countDown();
                }));
        queue.enqueue("t", "x", Codec.utf8(), EnqueueOptions.defaults());

        assertThat(done.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        await().atMost(TIMEOUT).until(() -> single("SELECT count(*) FROM headroom_job") == 0);
        assertThat(single("SELECT count(*) FROM effects"))
                .as("the first attempt's write rolled back")
                .isEqualTo(1);
        assertThat(single("SELECT attempt FROM effects")).isEqualTo(2);
        assertThat(counted("headroom.queue.failed", "queue", Q))
                .as("the Error recorded as a failure (retried by the backoff, not by lease expiry)")
                .isEqualTo(1);
    }

    @Test
    void aTransactionalHandlerCannotCommitRollBackOrCloseTheJobsConnection() throws Exception {
        JobQueue queue = queue(store);
        List<String> refused = new java.util.concurrent.CopyOnWriteArrayList<>();
        CountDownLatch done = new CountDownLatch(1);
        started(JobWorker.builder(queue)
                .queue(Q, 1)
                .pollInterval(Duration.ofMillis(100))
                .transactionalHandler("t", Codec.utf8(), (payload, ctx) -> {
                    recordEffect(ctx);
                    Connection c = ctx.connection();
                    for (String op : List.of("commit", "rollback", "setAutoCommit", "close")) {
                        try {
                            switch (op) {
                                case "commit" -> c.commit();
                                case "rollback" -> c.rollback();
                                case "setAutoCommit" -> c.setAutoCommit(true);
                                default -> c.close();
                            }
                        } catch (SQLException e) {
                            refused.add(op + ": " + e.getMessage());
                        }
                    }
                    done.countDown();
                    throw new IllegalStateException("fails after trying to commit its write on its own");
                }));
        queue.enqueue(
                "t", "x", Codec.utf8(), EnqueueOptions.builder().maxAttempts(1).build());

        assertThat(done.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        await().atMost(TIMEOUT).until(() -> single("SELECT count(*) FROM headroom_dead_job") == 1);
        assertThat(refused).hasSize(4).allSatisfy(m -> assertThat(m).contains("transactional handler"));
        assertThat(single("SELECT count(*) FROM effects"))
                .as("nothing committed by the handler")
                .isZero();
    }

    @Test
    void transactionalHandlersOnTwoWorkersApplyEachJobsWritesExactlyOnceThoughAttemptsFail() throws Exception {
        int jobs = 300;
        JobQueue enqueuer = queue(store);
        for (int i = 0; i < jobs; i++) {
            enqueuer.enqueue("pay", "order-" + i, Codec.utf8(), EnqueueOptions.defaults());
        }
        AtomicInteger thrown = new AtomicInteger();
        JobWorker.Handler<String> handler = (payload, ctx) -> {
            recordEffect(ctx);
            if (ctx.job().attempt() == 1 && ThreadLocalRandom.current().nextInt(4) == 0) {
                thrown.incrementAndGet();
                throw new IllegalStateException("failed after writing: the write must roll back");
            }
        };
        for (int w = 0; w < 2; w++) {
            started(JobWorker.builder(queue(store)).queue(Q, 4).transactionalHandler("pay", Codec.utf8(), handler));
        }
        await().atMost(TIMEOUT).until(() -> single("SELECT count(*) FROM headroom_job") == 0);
        assertThat(thrown.get()).as("some first attempts threw").isPositive();
        assertThat(single("SELECT count(*) FROM effects")).isEqualTo(jobs);
        assertThat(single("SELECT count(DISTINCT job_id) FROM effects")).isEqualTo(jobs);
        assertThat(single("SELECT count(*) FROM effects WHERE attempt = 1")).isEqualTo(jobs - thrown.get());
        assertThat(single("SELECT count(*) FROM headroom_dead_job")).isZero();
    }

    @Test
    void aHandlerWhoseJobWasRescuedByAnotherWorkerCommitsNothing() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        AtomicReference<JobContext> seen = new AtomicReference<>();
        JobQueue queue = queue(store);
        JobId id = queue.enqueue("pay", "order-1", Codec.utf8(), EnqueueOptions.defaults());
        started(JobWorker.builder(queue)
                .queue(Q, 1)
                .lease(Duration.ofSeconds(1))
                .transactionalHandler("pay", Codec.utf8(), (payload, ctx) -> {
                    seen.set(ctx);
                    recordEffect(ctx);
                    started.countDown();
                    finish.await(); // a long pause: GC, a stuck call
                }));
        assertThat(started.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        // The lease runs out (as if the worker's heartbeats had stopped too) and another worker
        // rescues the job with a new token.
        AtomicReference<ClaimedJob> rescued = new AtomicReference<>();
        await().atMost(TIMEOUT).until(() -> {
            execute("UPDATE headroom_job SET lease_expires_at = now() - interval '1 second'");
            List<ClaimedJob> claimed = store.claim(Q, 1, Duration.ofMinutes(5), "rescuer");
            if (!claimed.isEmpty()) {
                rescued.set(claimed.get(0));
            }
            return rescued.get() != null;
        });
        assertThat(rescued.get().id()).isEqualTo(id);
        assertThat(rescued.get().attempt()).isEqualTo(2);
        await().atMost(TIMEOUT).until(() -> seen.get().leaseLost()); // the next heartbeat finds out
        finish.countDown();
        await().atMost(TIMEOUT)
                .until(() -> counted("headroom.queue.stale_token_refused", "operation", "complete") == 1);
        assertThat(single("SELECT count(*) FROM effects"))
                .as("the stale attempt's write rolled back")
                .isZero();
        assertThat(store.complete(rescued.get().id(), rescued.get().lease())).isTrue();
    }

    @Test
    void aWorkerProcessKilledInsideATransactionalHandlerLosesNoJobAndAppliesItsWritesOnce() throws Exception {
        JobQueue queue = queue(store);
        JobId id = queue.enqueue("pay", "order-7", Codec.utf8(), EnqueueOptions.defaults());
        String javaBin = ProcessHandle.current()
                .info()
                .command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        Process child = new ProcessBuilder(
                        javaBin,
                        "-Xmx128m",
                        "-cp",
                        System.getProperty("java.class.path"),
                        HandlerThatHangsProcess.class.getName(),
                        db.jdbcUrl())
                .redirectErrorStream(true)
                .start();
        String[] inHandler;
        try {
            inHandler = awaitLine(child, "IN-HANDLER ").split(" ");
            child.destroyForcibly(); // SIGKILL, inside the handler, its transaction open
            assertThat(child.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        } finally {
            child.destroyForcibly();
        }
        assertThat(Long.parseLong(inHandler[1])).isEqualTo(id.value());
        LeaseToken deadWorkersToken = new LeaseToken(UUID.fromString(inHandler[2]));
        // another worker rescues the job once the dead one's lease (2 s) has run out
        started(JobWorker.builder(queue(store)).queue(Q, 1).transactionalHandler("pay", Codec.utf8(), (p, ctx) -> {
            recordEffect(ctx);
        }));
        await().atMost(TIMEOUT).until(() -> single("SELECT count(*) FROM headroom_job") == 0);
        assertThat(single("SELECT count(*) FROM effects"))
                .as("the killed attempt's write is absent")
                .isEqualTo(1);
        assertThat(single("SELECT attempt FROM effects")).isEqualTo(2);
        assertThat(store.complete(id, deadWorkersToken))
                .as("the dead worker's token")
                .isFalse();
        assertThat(single("SELECT count(*) FROM headroom_dead_job")).isZero();
    }

    /** The first line of the child's output starting with {@code prefix}; fails with its output if it exits first. */
    private static String awaitLine(Process child, String prefix) throws Exception {
        StringBuilder seen = new StringBuilder();
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try (BufferedReader r =
                    new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l = r.readLine(); l != null; l = r.readLine()) {
                    seen.append(l).append('\n');
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                }
                throw new IllegalStateException("worker process exited without '" + prefix + "':\n" + seen);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        return line.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
}
