package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.queue.postgres.PostgresJobStore;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The conformance suite on {@link PostgresJobStore} against the real PostgreSQL, each test in a
 * schema of its own; plus what only a database store can do: enqueue inside the caller's
 * transaction.
 */
@ExtendWith(HeadroomServices.class)
class PostgresJobStoreContractIT extends JobStoreContract {

    private TestDatabase db;
    private PostgresJobStore store;

    @BeforeEach
    void createStore(TestDatabase db) {
        this.db = db;
        this.store = PostgresJobStore.create(db.dataSource());
        store.createSchema();
    }

    @Override
    protected JobStore store() {
        return store;
    }

    @Override
    protected void elapse(Duration d) {
        Instant target = storeNow().plus(d);
        await().atMost(d.plusSeconds(30))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> !storeNow().isBefore(target));
    }

    @Override
    protected Instant storeNow() {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT now()")) {
            rs.next();
            return rs.getObject(1, OffsetDateTime.class).toInstant();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    protected Duration shortDelay() {
        return Duration.ofSeconds(2);
    }

    private long jobRows() throws SQLException {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM headroom_job")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Adversary finding: two batches with the same keys in different orders deadlocked. */
    @Test
    void concurrentBatchesWithTheSameKeysInDifferentOrdersNeverDeadlock() throws Exception {
        int rounds = 10;
        for (int round = 0; round < rounds; round++) {
            List<NewJob> forward = new java.util.ArrayList<>();
            for (int k = 0; k < 20; k++) {
                forward.add(NewJob.of(
                        "t",
                        new byte[] {(byte) k},
                        EnqueueOptions.builder()
                                .idempotencyKey("r" + round + "-k" + k)
                                .build()));
            }
            List<NewJob> backward = new java.util.ArrayList<>(forward);
            java.util.Collections.reverse(backward);
            java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(4);
            List<java.util.concurrent.Future<List<EnqueueResult>>> calls = new java.util.ArrayList<>();
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
            try {
                for (int t = 0; t < 4; t++) {
                    List<NewJob> batch = t % 2 == 0 ? forward : backward;
                    calls.add(pool.submit(() -> {
                        together.await();
                        return store.enqueueAll(batch);
                    }));
                }
                for (java.util.concurrent.Future<List<EnqueueResult>> call : calls) {
                    assertThat(call.get(TIMEOUT_SECONDS, java.util.concurrent.TimeUnit.SECONDS))
                            .as("round %d", round)
                            .hasSize(20);
                }
            } finally {
                pool.shutdownNow();
            }
        }
        assertThat(jobRows()).as("one job per key").isEqualTo(20L * rounds);
    }

    private static final long TIMEOUT_SECONDS = 60;

    /**
     * Adversary finding: a NUL in an error message made recording the failure itself fail (no
     * history, no backoff); a 50 MB message was stored whole.
     */
    @Test
    void aFailureMessageWithANulAndFiftyThousandCharactersIsRecordedCleanedAndCut() {
        JobQueue queue = JobQueue.builder(store).build();
        queue.enqueue("t", new byte[0], EnqueueOptions.builder().maxAttempts(1).build());
        ClaimedJob job = queue.claim("default", 1, Duration.ofSeconds(30)).get(0);
        String message = "bad\0byte " + "x".repeat(50_000);
        assertThat(queue.fail(job, message)).isEqualTo(FailOutcome.DEAD_LETTERED);
        assertThat(queue.failPermanently(job, "late\0")).isEqualTo(FailOutcome.STALE_LEASE);
        DeadLetter dead = queue.deadLetters().list(DeadLetterFilter.all(), 1).get(0);
        assertThat(dead.errors().get(0).message())
                .startsWith("bad\uFFFDbyte xxx")
                .hasSize(8_192);
    }

    @Test
    void namesWithANulAreRefusedNamingTheFieldNotAsADatabaseError() {
        JobQueue queue = JobQueue.builder(store).build();
        assertThatThrownBy(() -> queue.enqueue("t\0", new byte[0]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("type must not contain a NUL");
        assertThatThrownBy(() -> EnqueueOptions.builder().queue("q\0"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("queue must not contain a NUL");
        assertThatThrownBy(() -> EnqueueOptions.builder().idempotencyKey("k\0"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("idempotencyKey must not contain a NUL");
        // adversary: "k\uD800" and "k\uDC00" both reached PostgreSQL as "k?", the second a duplicate
        assertThatThrownBy(() -> EnqueueOptions.builder().idempotencyKey("k\uD800"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("idempotencyKey holds an unpaired surrogate at index 1");
        assertThatThrownBy(() -> queue.enqueue("ty\uDC00pe", new byte[0]))
                .hasMessageContaining("type holds an unpaired surrogate");
        assertThat(queue.enqueue("t\uD83D\uDE00", new byte[0]))
                .as("a pair is fine")
                .isNotNull();
        assertThatThrownBy(() -> JobQueue.builder(store).worker("w\0"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("worker must not contain a NUL");
        assertThatThrownBy(() -> store.enqueueAll(List.of(new NewJob("t", new byte[0], "q", 40_000, null, 1, null))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("priority must be in [-32768, 32767]");
        for (Instant odd : List.of(Instant.parse("+10000-01-01T00:00:00Z"), Instant.MAX, Instant.MIN)) {
            assertThatThrownBy(() -> EnqueueOptions.builder().runAt(odd))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("runAt must be within the years 1 to 9999");
        }
        List<EnqueueResult> far = store.enqueueAll(List.of(NewJob.of(
                "t",
                new byte[0],
                EnqueueOptions.builder()
                        .runAt(Instant.parse("9999-12-31T23:59:59Z"))
                        .build())));
        assertThat(far).hasSize(1);
    }

    @Test
    void aTransactionalEnqueueThatRollsBackLeavesNoJob() throws SQLException {
        JobQueue queue = JobQueue.builder(store).build();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            queue.enqueue(
                    c,
                    "t",
                    "p".getBytes(StandardCharsets.UTF_8),
                    EnqueueOptions.builder()
                            .queue(QUEUE_NAME)
                            .idempotencyKey("tx-key")
                            .build());
            c.rollback();
        }
        assertThat(jobRows()).isZero();
        assertThat(store.claim(QUEUE_NAME, 10, Duration.ofMinutes(1), "w")).isEmpty();
        // The key was released with the rollback: the same key enqueues a job again.
        JobId id = queue.enqueue(
                "t",
                "p".getBytes(StandardCharsets.UTF_8),
                EnqueueOptions.builder()
                        .queue(QUEUE_NAME)
                        .idempotencyKey("tx-key")
                        .build());
        assertThat(store.claim(QUEUE_NAME, 10, Duration.ofMinutes(1), "w"))
                .extracting(ClaimedJob::id)
                .containsExactly(id);
    }

    @Test
    void aTransactionalEnqueueThatCommitsIsVisibleOnlyAfterTheCommit() throws SQLException {
        JobQueue queue = JobQueue.builder(store).build();
        JobId id;
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE orders (id int PRIMARY KEY)");
                s.execute("INSERT INTO orders VALUES (42)");
            }
            id = queue.enqueue(
                    c,
                    "confirm",
                    "42",
                    dev.headroom.core.Codec.utf8(),
                    EnqueueOptions.builder().queue(QUEUE_NAME).build());
            assertThat(store.claim(QUEUE_NAME, 10, Duration.ofMinutes(1), "w"))
                    .as("before commit")
                    .isEmpty();
            c.commit();
        }
        List<ClaimedJob> claimed = store.claim(QUEUE_NAME, 10, Duration.ofMinutes(1), "w");
        assertThat(claimed).extracting(ClaimedJob::id).containsExactly(id);
        assertThat(dev.headroom.core.Codec.utf8().decode(claimed.get(0).payload()))
                .isEqualTo("42");
    }

    @Test
    void sixteenTransactionsEnqueueingOneKeyCreateExactlyOneJobWhetherTheFirstCommitsOrRollsBack() throws Exception {
        JobQueue queue = JobQueue.builder(store).build();
        EnqueueOptions keyed = EnqueueOptions.builder()
                .queue(QUEUE_NAME)
                .idempotencyKey("tx-race")
                .build();
        int threads = 16;
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
        java.util.Set<JobId> ids = java.util.concurrent.ConcurrentHashMap.newKeySet();
        try {
            java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
            List<java.util.concurrent.Future<?>> done = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                boolean rollBack = t % 2 == 0;
                done.add(pool.submit(() -> {
                    start.await();
                    try (Connection c = db.connect()) {
                        c.setAutoCommit(false);
                        JobId id = queue.enqueue(c, "t", "p".getBytes(StandardCharsets.UTF_8), keyed);
                        if (rollBack) {
                            c.rollback();
                        } else {
                            c.commit();
                            ids.add(id);
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (java.util.concurrent.Future<?> f : done) {
                f.get(60, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(ids).as("ids seen by the committing transactions").hasSize(1);
        assertThat(jobRows()).isEqualTo(1);
        assertThat(store.claim(QUEUE_NAME, 10, Duration.ofMinutes(1), "w"))
                .extracting(ClaimedJob::id)
                .containsExactlyElementsOf(ids);
    }

    @Test
    void theSchemaCanBeCreatedAgain() throws SQLException {
        store.createSchema();
        assertThat(PostgresJobStore.schemaSql()).contains("CREATE TABLE IF NOT EXISTS headroom_job");
        assertThat(jobRows()).isZero();
    }

    private static final String QUEUE_NAME = "tx";

    @Test
    void aBatchEnqueuedInACallersTransactionThatRollsBackLeavesNoJob() throws SQLException {
        JobQueue queue = JobQueue.builder(store).build();
        List<NewJob> batch = new java.util.ArrayList<>();
        for (int i = 0; i < 500; i++) {
            batch.add(new NewJob("t", ("p" + i).getBytes(StandardCharsets.UTF_8), QUEUE_NAME, 0, null, 5, null));
        }
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            assertThat(queue.enqueueAll(c, batch)).hasSize(500);
            c.rollback();
        }
        assertThat(jobRows()).isZero();
        try (Connection c = db.connect()) {
            c.setAutoCommit(false);
            queue.enqueueAll(c, batch);
            c.commit();
        }
        assertThat(jobRows()).isEqualTo(500);
    }
}
