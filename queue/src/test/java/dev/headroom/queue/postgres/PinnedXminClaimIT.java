package dev.headroom.queue.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.queue.ClaimedJob;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.NewJob;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Claims under a pinned xmin: with a snapshot held open (a long report query, a replica's {@code
 * hot_standby_feedback}), vacuum removes no index entry of a claimed job, and a claim that scans
 * from the start of the claim index walks all of them. A store's claims continue after the last
 * key they claimed instead, and a full scan still finds what became available below it.
 */
@ExtendWith(HeadroomServices.class)
class PinnedXminClaimIT {

    private static final String Q = EnqueueOptions.DEFAULT_QUEUE;
    private static final Duration LEASE = Duration.ofMinutes(5);

    private TestDatabase db;
    private PostgresJobStore store;

    @BeforeEach
    void createStore(TestDatabase db) {
        this.db = db;
        this.store = PostgresJobStore.create(db.dataSource());
        store.createSchema();
    }

    @Test
    void behindThousandsOfClaimedJobsAPinnedXminKeepsAClaimAfterTheLastKeyCheap() throws Exception {
        try (Connection pin = db.connect()) {
            pin.setAutoCommit(false);
            pin.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            try (Statement s = pin.createStatement()) {
                s.execute("SELECT txid_current()"); // holds the xmin from here on
            }
            List<NewJob> jobs = new ArrayList<>();
            for (int i = 0; i < 3_000; i++) {
                jobs.add(NewJob.of("t", new byte[0], EnqueueOptions.defaults()));
            }
            store.enqueueAll(jobs);
            db.execute("ANALYZE headroom_job");
            int done = 0;
            while (done < 2_900) {
                // a lease already over by the next claim: the dead entries these jobs leave in the
                // rescue's index (headroom_job_leased) lie in the past, where its scan looks
                List<ClaimedJob> batch = store.claim(Q, 20, Duration.ofNanos(1_000), "w");
                assertThat(store.completeAll(batch)).hasSize(batch.size());
                done += batch.size();
            }
            PostgresJobStore.ClaimKey key = store.claimedUpTo(Q);
            assertThat(key).isNotNull();

            long afterKey = entriesRead(QueueSql.CLAIM_AFTER, key);
            long fromStart = entriesRead(QueueSql.CLAIM, null);

            assertThat(afterKey)
                    .as("claim-index entries read by a claim of 10 after the last key (from the start: %d)", fromStart)
                    .isLessThan(50);
            assertThat(fromStart)
                    .as("entries of the 2,900 claimed jobs a claim from the start walks: the pin is real")
                    .isGreaterThan(2_900);
            // the rescue and came-due parts walk their indexes from the start too (every job done
            // since the pin, once leases expire): a claim after the key leaves them to full claims
            assertThat(entriesRead(QueueSql.CLAIM, null, "headroom_job_leased"))
                    .as("rescue-index entries a full claim walks: the 2,900 done jobs' expired leases")
                    .isGreaterThan(2_900);
            key = store.claimedUpTo(Q);
            assertThat(entriesRead(QueueSql.CLAIM_AFTER, key, "headroom_job_leased"))
                    .isZero();
            key = store.claimedUpTo(Q);
            assertThat(entriesRead(QueueSql.CLAIM_AFTER, key, "headroom_job_scheduled"))
                    .isZero();
            pin.rollback();
        }
    }

    @Test
    void aJobThatBecomesAvailableBelowTheLastClaimedKeyIsFoundByAFullScan() {
        List<NewJob> backlog = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            backlog.add(NewJob.of("t", new byte[0], EnqueueOptions.defaults()));
        }
        store.enqueueAll(backlog);
        assertThat(store.claim(Q, 10, LEASE, "w")).hasSize(10);
        long urgent = store.enqueue(NewJob.of(
                        "urgent",
                        new byte[0],
                        EnqueueOptions.builder().priority(-5).build()))
                .id()
                .value();
        // Claims keep coming back full from the backlog after the key; within a full-scan period
        // one scans from the start and takes the urgent job, ahead of the rest.
        List<String> types = new ArrayList<>();
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            List<ClaimedJob> one = store.claim(Q, 1, LEASE, "w");
            one.forEach(j -> types.add(j.type()));
            return one.stream().anyMatch(j -> j.id().value() == urgent);
        });
        assertThat(types).last().isEqualTo("urgent");
        assertThat(types.size()).as("claims before it").isLessThan(390);
    }

    /**
     * The adversary's ratchet: the cursor only ever rose, so a full scan that took jobs below it
     * handed the next claims back to the old, higher key — urgent jobs enqueued behind a backlog
     * came out {@code max} per full-scan period (the last of 200 after 17.9 s, 19,980 backlog jobs
     * first), and one low-priority job claimed before a pin kept every later claim scanning from
     * the start. Now a full claim continues after the highest key it claimed itself.
     */
    @Test
    void afterAFullScanFindsJobsBelowTheKeyTheNextClaimsContinueAmongThem() {
        List<NewJob> backlog = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            backlog.add(NewJob.of(
                    "backlog", new byte[0], EnqueueOptions.builder().priority(5).build()));
        }
        store.enqueueAll(backlog);
        for (int i = 0; i < 5; i++) {
            assertThat(store.claim(Q, 10, LEASE, "w")).hasSize(10);
        }
        assertThat(store.claimedUpTo(Q)).isNotNull();
        List<NewJob> urgent = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            urgent.add(NewJob.of(
                    "urgent", new byte[0], EnqueueOptions.builder().priority(0).build()));
        }
        store.enqueueAll(urgent);
        store.scanFromTheStartNext(Q);
        List<String> types = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            store.claim(Q, 10, LEASE, "w").forEach(j -> types.add(j.type()));
        }
        assertThat(types)
                .as("the full scan's 10, then the other 40 in the claims after it")
                .containsOnly("urgent");
        assertThat(store.claimedUpTo(Q).priority()).isZero();
    }

    @Test
    void aLowPriorityJobClaimedFirstDoesNotHoldTheCursorAboveEverythingElse() {
        store.enqueue(NewJob.of(
                "low", new byte[0], EnqueueOptions.builder().priority(10).build()));
        assertThat(store.claim(Q, 1, LEASE, "w")).hasSize(1);
        List<NewJob> jobs = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            jobs.add(NewJob.of("t", new byte[0], EnqueueOptions.defaults()));
        }
        store.enqueueAll(jobs);
        for (int i = 0; i < 3; i++) {
            assertThat(store.claim(Q, 10, LEASE, "w")).hasSize(10);
        }
        assertThat(store.claimedUpTo(Q))
                .as("the cursor follows the priority-0 jobs claimed, not the priority-10 one")
                .isNotNull()
                .satisfies(k -> assertThat(k.priority()).isZero());
    }

    /**
     * Index entries of {@code headroom_job_due} that one claim of 10 read, dead ones included
     * ({@code pg_stat_user_indexes.idx_tup_read}, flushed on demand).
     */
    private long entriesRead(String sql, PostgresJobStore.ClaimKey after) throws Exception {
        return entriesRead(sql, after, "headroom_job_due");
    }

    private long entriesRead(String sql, PostgresJobStore.ClaimKey after, String index) throws Exception {
        try (Connection c = db.connect()) {
            long before = idxTupRead(c, index);
            claimOn(c, sql, after);
            return idxTupRead(c, index) - before;
        }
    }

    private static long idxTupRead(Connection c, String index) throws Exception {
        try (Statement s = c.createStatement()) {
            s.execute("SELECT pg_stat_force_next_flush()");
            s.execute("SELECT 1"); // its end flushes this session's counts
            try (ResultSet rs = s.executeQuery("SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = '"
                    + index + "'" + " AND schemaname = current_schema()")) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    private static void claimOn(Connection c, String sql, PostgresJobStore.ClaimKey after) throws Exception {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            PostgresJobStore.bindClaim(ps, Q, after, 10, LEASE, "probe");
            try (ResultSet rs = ps.executeQuery()) {
                int n = 0;
                while (rs.next()) {
                    n++;
                }
                assertThat(n).as("jobs claimed").isEqualTo(10);
            }
        }
    }
}
