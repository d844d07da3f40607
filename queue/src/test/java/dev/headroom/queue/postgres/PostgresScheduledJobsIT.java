package dev.headroom.queue.postgres;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Jobs whose run-at is to come wait as {@code scheduled}, out of the index the claim walks in
 * priority order: a claim behind a big backlog of them reads a few pages, not the backlog (it read
 * all of them before, 142 ms a claim behind 1,000,000). Also the in-place upgrade of a version-1
 * schema.
 */
@ExtendWith(HeadroomServices.class)
class PostgresScheduledJobsIT {

    private static final int BACKLOG = 50_000;

    private TestDatabase db;
    private PostgresJobStore store;

    @BeforeEach
    void createStore(TestDatabase db) {
        this.db = db;
        this.store = PostgresJobStore.create(db.dataSource());
    }

    @Test
    void aClaimBehindFiftyThousandFutureJobsReadsAFewPagesNotTheBacklog() throws Exception {
        store.createSchema();
        EnqueueOptions later = EnqueueOptions.builder()
                .runAt(Instant.now().plus(Duration.ofDays(1)))
                .build();
        List<NewJob> backlog = new ArrayList<>();
        for (int i = 0; i < BACKLOG; i++) {
            backlog.add(NewJob.of("later", new byte[0], later));
        }
        store.enqueueAll(backlog);
        for (int i = 0; i < 3; i++) {
            store.enqueue(NewJob.of("now", new byte[0], EnqueueOptions.defaults()));
        }
        db.execute("ANALYZE headroom_job");

        String plan = explainClaim(16);

        long pages = topLevel(plan, "hit=") + topLevel(plan, "read=");
        assertThat(topLevel(plan, "rows=")).as("jobs claimed, in %s", plan).isEqualTo(3);
        assertThat(pages)
                .as("pages the claim read behind %d future jobs (the backlog fills several hundred)", BACKLOG)
                .isLessThan(100);
        assertThat(states()).containsEntry("scheduled", (long) BACKLOG).containsEntry("running", 3L);
    }

    @Test
    void aVersionOneSchemaIsUpgradedInPlaceAndItsFutureJobsBecomeScheduled() throws Exception {
        db.execute(
                "CREATE SEQUENCE headroom_job_id_seq",
                "CREATE TABLE headroom_job (id bigint PRIMARY KEY DEFAULT nextval('headroom_job_id_seq'),"
                        + " queue text NOT NULL, type text NOT NULL, payload bytea NOT NULL,"
                        + " priority smallint NOT NULL DEFAULT 0,"
                        + " state text NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'running')),"
                        + " run_at timestamptz NOT NULL DEFAULT now(), attempt integer NOT NULL DEFAULT 0,"
                        + " max_attempts integer NOT NULL CHECK (max_attempts >= 1), idempotency_key text,"
                        + " lease_token uuid, lease_expires_at timestamptz, claimed_by text,"
                        + " enqueued_at timestamptz NOT NULL DEFAULT now())",
                "INSERT INTO headroom_job (queue, type, payload, max_attempts, run_at)"
                        + " VALUES ('default', 'later', '\\x', 3, now() + interval '1 day'),"
                        + " ('default', 'now', '\\x', 3, now())");

        store.createSchema();
        store.createSchema(); // and again: idempotent

        assertThat(states()).containsEntry("scheduled", 1L).containsEntry("available", 1L);
        List<ClaimedJob> claimed = store.claim("default", 10, Duration.ofSeconds(30), "w");
        assertThat(claimed).extracting(ClaimedJob::type).containsExactly("now");
        store.enqueue(NewJob.of(
                "later-too",
                new byte[0],
                EnqueueOptions.builder()
                        .runAt(Instant.now().plus(Duration.ofHours(1)))
                        .build()));
        assertThat(states()).containsEntry("scheduled", 2L);
    }

    /**
     * The first number after {@code label} in the plan's first lines, which describe its top node:
     * {@code rows=} of the actual run, {@code hit=} and {@code read=} of its total buffers (0 when
     * the plan read none that way).
     */
    private static long topLevel(String plan, String label) {
        String[] lines = plan.split("\n");
        int buffers = 1;
        while (buffers < lines.length && !lines[buffers].contains("Buffers:")) {
            buffers++;
        }
        String head = lines[0] + "\n" + (buffers < lines.length ? lines[buffers] : "");
        Matcher m = Pattern.compile(Pattern.quote(label) + "(\\d+)")
                .matcher(label.equals("rows=") ? head.substring(head.indexOf("actual")) : head);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private String explainClaim(int max) throws Exception {
        try (Connection c = db.connect();
                PreparedStatement ps = c.prepareStatement("EXPLAIN (ANALYZE, BUFFERS) " + QueueSql.CLAIM)) {
            PostgresJobStore.bindClaim(ps, "default", null, max, Duration.ofSeconds(30), "w");
            StringBuilder plan = new StringBuilder();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    plan.append(rs.getString(1)).append('\n');
                }
            }
            return plan.toString();
        }
    }

    private java.util.Map<String, Long> states() throws Exception {
        java.util.Map<String, Long> states = new java.util.HashMap<>();
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT state, count(*) FROM headroom_job GROUP BY state")) {
            while (rs.next()) {
                states.put(rs.getString(1), rs.getLong(2));
            }
        }
        return states;
    }
}
