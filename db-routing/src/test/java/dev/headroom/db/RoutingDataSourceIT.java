package dev.headroom.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.ConsistencyToken;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.core.ConditionFactory;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.postgresql.jdbc.PgConnection;

/** The router against the real primary and its real streaming replica from scripts/services. */
@ExtendWith(HeadroomServices.class)
class RoutingDataSourceIT {

    /**
     * The longest any wait here may take. Generous on purpose: on a busy shared machine a probe round,
     * a replay or a restart can be slow, and these tests prove what happens and in which order, not
     * how fast. Conditions are polled every {@link #POLL}, so a fast machine is not slowed down.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private static final Duration POLL = Duration.ofMillis(10);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final List<RoutingDataSource> routers = new ArrayList<>();

    private RoutingDataSourceBuilder builder(String name, TestDatabase db, TestReplica replica) {
        return RoutingDataSource.builder(name)
                .primary(db.jdbcUrl())
                .replica("r1", replica.jdbcUrl())
                .probeInterval(Duration.ofMillis(100))
                .poolConfig(c -> c.setMaximumPoolSize(4))
                .meterRegistry(registry);
    }

    private RoutingDataSource started(RoutingDataSourceBuilder b) {
        RoutingDataSource router = b.build();
        routers.add(router);
        router.probeNow();
        // Serves once a probe finds it within bounds; other work on the shared primary can leave
        // the replica briefly behind at this one probe, so the background probes get their turn.
        waiting().until(() -> router.isServing("r1"));
        return router;
    }

    private static ConditionFactory waiting() {
        return await().atMost(TIMEOUT).pollInterval(POLL);
    }

    @AfterEach
    void closeRouters() {
        routers.forEach(RoutingDataSource::close);
    }

    private double count(String meter, String... tags) {
        var search = registry.find(meter).tags(tags);
        return search.counters().stream().mapToDouble(c -> c.count()).sum();
    }

    /** True when the statement ran on a server in recovery, i.e. the replica. */
    private static boolean onReplica(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private static boolean readOnReplica(RoutingDataSource router) throws SQLException {
        try (Connection c = router.getConnection()) {
            return onReplica(c);
        }
    }

    @Test
    void readsRunOnTheReplicaAndWritesOnThePrimary(TestDatabase db, TestReplica replica) throws SQLException {
        RoutingDataSource router = started(builder("basic", db, replica));

        assertThat(router.replica(() -> readOnReplica(router))).isTrue();
        assertThat(router.primary(() -> readOnReplica(router))).isFalse();
        assertThat(readOnReplica(router)).as("no routing decision: primary").isFalse();
        try (Connection c = router.getConnection()) {
            c.setReadOnly(true); // after getConnection, before the first statement (spring-framework #19688)
            assertThat(onReplica(c)).isTrue();
        }
        try (Connection c = router.getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE t (id int PRIMARY KEY)");
            s.execute("INSERT INTO t VALUES (1)");
        }
        try (RequestContext.Scope ignored =
                RequestContext.empty().withCriticality(Criticality.CRITICAL).open()) {
            assertThat(router.replica(() -> readOnReplica(router)))
                    .as("critical work pinned to the primary")
                    .isFalse();
        }
        assertThat(count("headroom.db.connections", "target", "replica", "server", "r1"))
                .isEqualTo(2);
        assertThat(count("headroom.db.connections", "target", "primary")).isEqualTo(4);
    }

    @Test
    void aReadWriteTransactionWithReadsStaysOnThePrimaryStartToEnd(TestDatabase db, TestReplica replica)
            throws SQLException {
        db.execute("CREATE TABLE acct (id int PRIMARY KEY, balance int)", "INSERT INTO acct VALUES (1, 10)");
        RoutingDataSource router = started(builder("tx", db, replica));
        replica.awaitCaughtUp(TIMEOUT);

        try (Connection c = router.getConnection()) {
            c.setAutoCommit(false);
            String first = backend(c); // the transaction's first statement is a read
            assertThat(onReplica(c)).isFalse();
            try (Statement s = c.createStatement()) {
                s.executeUpdate("UPDATE acct SET balance = balance + 5 WHERE id = 1");
            }
            try (Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT balance FROM acct WHERE id = 1")) {
                rs.next();
                assertThat(rs.getInt(1)).as("reads its own uncommitted write").isEqualTo(15);
            }
            assertThat(backend(c)).isEqualTo(first);
            c.commit();
            assertThat(backend(c)).as("same server and session to the end").isEqualTo(first);
        }
        try (Connection c = router.getConnection()) {
            c.setAutoCommit(false);
            c.setReadOnly(true); // a read-only transaction may go to the replica, whole
            String first = backend(c);
            assertThat(onReplica(c)).isTrue();
            assertThat(backend(c)).isEqualTo(first);
            c.commit();
        }
    }

    private static String backend(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT inet_server_port() || ':' || pg_backend_pid()")) {
            rs.next();
            return rs.getString(1);
        }
    }

    /** A {@link PostgresLagProbe} that lets a test watch the primary positions each probe round sampled. */
    private static class WatchedLagProbe implements LagProbe {
        private final LagProbe probe = new PostgresLagProbe();

        /** Called on a probe worker with each primary sample, before the round acts on it. */
        void sampled(long primaryPosition) {}

        @Override
        public long primaryPosition(Connection primary) throws SQLException {
            long position = probe.primaryPosition(primary);
            sampled(position);
            return position;
        }

        @Override
        public long replayPosition(Connection replica) throws SQLException {
            return probe.replayPosition(replica);
        }

        @Override
        public ReplicaStatus replicaStatus(Connection replica) throws SQLException {
            return probe.replicaStatus(replica);
        }

        @Override
        public String encode(long position) {
            return probe.encode(position);
        }

        @Override
        public long decode(String token) {
            return probe.decode(token);
        }
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aLaggingReplicaIsEjectedWithinAProbeAndReadmittedWhenItCatchesUp(TestDatabase db, TestReplica replica)
            throws SQLException {
        long maxLagBytes = 64 * 1024;
        db.execute("CREATE TABLE bulk (id int, pad text)");
        // "Within a probe", counted in probe rounds rather than milliseconds: the rounds whose primary
        // sample was more than maxLagBytes past the paused replica, while no round had ejected it yet
        // (a round applies its findings after its samples). The first such round must eject.
        List<long[]> samples = new java.util.concurrent.CopyOnWriteArrayList<>(); // {position, lag ejections}
        WatchedLagProbe probe = new WatchedLagProbe() {
            @Override
            void sampled(long primaryPosition) {
                samples.add(
                        new long[] {primaryPosition, (long) count("headroom.db.replica.ejections", "reason", "lag")});
            }
        };
        RoutingDataSource router =
                started(builder("lag", db, replica).maxLagBytes(maxLagBytes).lagProbe(probe));

        replica.pauseReplay();
        try {
            long pausedAt = PostgresLagProbe.parseLsn(replica.replayLsn());
            db.execute("INSERT INTO bulk SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
            waiting()
                    .until(() ->
                            count("headroom.db.replica.ejections", "reason", "lag") == 1 && !router.isServing("r1"));
            assertThat(samples.stream().filter(x -> x[0] - pausedAt > maxLagBytes && x[1] == 0))
                    .as("probe rounds whose primary sample was past the bound, before the ejection")
                    .hasSize(1);
            assertThat(router.replicas().get(0).lagBytes()).isGreaterThan(maxLagBytes);
            assertThat(router.replica(() -> readOnReplica(router)))
                    .as("reads fall back to the primary")
                    .isFalse();
            assertThat(count("headroom.db.fallbacks", "reason", "no_replica")).isEqualTo(1);
            assertThat(count("headroom.db.replica.ejections", "reason", "lag")).isEqualTo(1);
        } finally {
            replica.resumeReplay();
        }
        waiting().until(() -> router.isServing("r1"));
        assertThat(router.replica(() -> readOnReplica(router))).isTrue();
        assertThat(count("headroom.db.replica.readmissions")).isEqualTo(1);
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void readYourWritesAcrossInstancesNeverReadsStale(TestDatabase db, TestReplica replica) throws SQLException {
        db.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)");
        RoutingDataSource writer = started(builder("ryw-a", db, replica));
        RoutingDataSource reader = started(builder("ryw-b", db, replica).maxTokenWait(Duration.ofMillis(20)));
        Random random = new Random(42);
        int stale = 0;
        int onReplica = 0;
        int onPrimary = 0;
        try {
            for (int i = 0; i < 1000; i++) {
                if (i == 100 || i == 600 || (i % 50 == 0 && random.nextInt(4) == 0)) {
                    replica.pauseReplay();
                } else if (i == 150 || i == 650 || random.nextInt(40) == 0) {
                    replica.resumeReplay();
                }
                try (Connection c = writer.getConnection();
                        PreparedStatement s = c.prepareStatement("INSERT INTO notes VALUES (?, ?)")) {
                    s.setInt(1, i);
                    s.setString(2, "note " + i);
                    s.executeUpdate();
                }
                String wire = writer.consistencyToken().toString(); // travels in a cookie or header
                int id = i;
                boolean[] servedByReplica = new boolean[1];
                String body = reader.replica(ConsistencyToken.parse(wire), () -> {
                    try (Connection c = reader.getConnection();
                            PreparedStatement s =
                                    c.prepareStatement("SELECT body, pg_is_in_recovery() FROM notes WHERE id = ?")) {
                        s.setInt(1, id);
                        try (ResultSet rs = s.executeQuery()) {
                            if (!rs.next()) {
                                return null;
                            }
                            servedByReplica[0] = rs.getBoolean(2);
                            return rs.getString(1);
                        }
                    }
                });
                if (body == null) {
                    stale++;
                } else if (servedByReplica[0]) {
                    onReplica++;
                } else {
                    onPrimary++;
                }
            }
        } finally {
            replica.resumeReplay();
        }
        assertThat(stale).as("stale reads").isZero();
        assertThat(onReplica).as("served by the replica").isPositive();
        assertThat(onPrimary)
                .as("fell back to the primary while replay was paused")
                .isPositive();
        assertThat(onReplica + onPrimary).isEqualTo(1000);
        System.out.printf("read-your-writes: %d on the replica, %d on the primary, 0 stale%n", onReplica, onPrimary);
    }

    /**
     * A replica read that threw: on which physical connection to which server (null if it never got
     * one), and whether the read began after the router had ejected the stopped replica.
     */
    private record FailedRead(
            @Nullable Connection physical, @Nullable String server, boolean afterEjection, SQLException error) {}

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aReplicaStoppedMidRunMovesReadsToThePrimaryAndBackAfterRestart(TestDatabase db, TestReplica replica)
            throws Exception {
        RoutingDataSource router = started(builder("crash", db, replica));
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicBoolean ejected = new AtomicBoolean(); // latched once a reader sees r1 out after the stop
        AtomicInteger primaryReads = new AtomicInteger();
        AtomicInteger replicaReads = new AtomicInteger();
        Queue<FailedRead> failed = new ConcurrentLinkedQueue<>();
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            Thread r = new Thread(() -> {
                while (running.get()) {
                    if (!ejected.get() && !router.isServing("r1") && unreachableEjections() > 0) {
                        ejected.set(true);
                    }
                    boolean afterEjection = ejected.get();
                    PgConnection[] physical = {null};
                    String[] server = {null};
                    try {
                        boolean onReplica = router.replica(() -> {
                            try (Connection c = router.getConnection();
                                    Statement s = c.createStatement()) { // takes the physical connection
                                physical[0] = c.unwrap(PgConnection.class);
                                server[0] = physical[0].getURL();
                                try (ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
                                    rs.next();
                                    return rs.getBoolean(1);
                                }
                            }
                        });
                        (onReplica ? replicaReads : primaryReads).incrementAndGet();
                    } catch (SQLException e) {
                        failed.add(new FailedRead(physical[0], server[0], afterEjection, e));
                    }
                }
            });
            r.start();
            readers.add(r);
        }
        try {
            waiting().until(() -> replicaReads.get() > 50);
            replica.stopImmediately();
            try {
                waiting().until(() -> unreachableEjections() == 1 && !router.isServing("r1"));
                int primaryBefore = primaryReads.get();
                waiting().until(() -> primaryReads.get() > primaryBefore + 50);
                assertThat(router.isServing("r1")).isFalse();
                assertThat(ejected).as("the readers saw the ejection").isTrue();
            } finally {
                replica.start();
            }
            // No write on the primary: after a restart, pg_last_wal_receive_lsn() is the start of the
            // WAL segment, and measuring lag from the receive position (before issue 13) kept a
            // caught-up replica ejected on a quiet primary until the next write.
            waiting().until(() -> count("headroom.db.replica.readmissions") >= 1);
            int replicaBefore = replicaReads.get();
            waiting().until(() -> replicaReads.get() > replicaBefore + 50);
        } finally {
            running.set(false);
            for (Thread r : readers) {
                r.join();
            }
        }
        System.out.printf(
                "replica crash: %d replica reads, %d primary reads, %d failed (%d after the ejection)%n",
                replicaReads.get(),
                primaryReads.get(),
                failed.size(),
                failed.stream().filter(FailedRead::afterEjection).count());
        // What is promised, whatever the timing: only statements already running on the replica when
        // it died fail. So no read that began after the ejection fails; none fails for want of a
        // connection (a replica that cannot give one is ejected and the read moves on); and each
        // failure is a statement on a replica connection that died under it, one per connection.
        assertThat(failed)
                .filteredOn(FailedRead::afterEjection)
                .as("failed reads that began after the ejection")
                .isEmpty();
        for (FailedRead f : failed) {
            assertThat(f.physical())
                    .as("a read failed without a connection: %s", f.error())
                    .isNotNull();
            assertThat(f.server())
                    .as("the server a read failed on (%s)", f.error())
                    .isEqualTo(replica.jdbcUrl());
        }
        assertThat(failed)
                .extracting(FailedRead::physical)
                .as("replica connections that failed a read (a dead one must not be handed out again)")
                .doesNotHaveDuplicates();
        // Every read the primary served inside replica(...) is a counted fallback: because no replica
        // was serving, or because the one tried could not give a connection.
        assertThat(count("headroom.db.fallbacks", "reason", "no_replica")
                        + count("headroom.db.fallbacks", "reason", "replica_failed"))
                .as("fallbacks{reason=no_replica|replica_failed}")
                .isEqualTo(primaryReads.get());
    }

    private double unreachableEjections() {
        return count("headroom.db.replica.ejections", "router", "crash", "reason", "unreachable");
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void theCascadeGuardKeepsTheLeastLaggingReplicaServingAndFailModeThrows(TestDatabase db, TestReplica replica)
            throws SQLException {
        db.execute("CREATE TABLE bulk2 (id int, pad text)");
        // Two names for the one real replica: both lag together, as replicas behind one
        // overloaded primary do.
        RoutingDataSource guarded = started(builder("guard", db, replica)
                .replica("r2", replica.jdbcUrl())
                .maxLagBytes(64 * 1024)
                .minServingReplicas(1));
        RoutingDataSource strict =
                started(builder("strict", db, replica).maxLagBytes(64 * 1024).failWhenNoReplica());
        replica.pauseReplay();
        try {
            db.execute("INSERT INTO bulk2 SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g");
            waiting().until(() -> !strict.isServing("r1"));
            waiting()
                    .until(() -> registry.get("headroom.db.replica.kept")
                                    .tag("router", "guard")
                                    .gauge()
                                    .value()
                            == 1);
            assertThat(guarded.isServing("r1") ^ guarded.isServing("r2"))
                    .as("exactly one lagging replica kept")
                    .isTrue();
            assertThat(guarded.replica(() -> readOnReplica(guarded))).isTrue();
            assertThatThrownBy(() -> strict.replica(() -> readOnReplica(strict)))
                    .isInstanceOf(NoReplicaAvailableException.class)
                    .hasMessageContaining("router 'strict': no replica is serving")
                    .hasMessageContaining("ejected: lag");
        } finally {
            replica.resumeReplay();
        }
        waiting().until(() -> guarded.isServing("r1") && guarded.isServing("r2"));
        assertThat(registry.get("headroom.db.replica.kept")
                        .tag("router", "guard")
                        .gauge()
                        .value())
                .isZero();
    }

    @Test
    void replicaReadsAreSpreadByTheSelector(TestDatabase db, TestReplica replica) throws SQLException {
        RoutingDataSource router = started(builder("spread", db, replica).replica("r2", replica.jdbcUrl()));
        waiting().until(() -> router.isServing("r2"));
        for (int i = 0; i < 20; i++) {
            assertThat(router.replica(() -> readOnReplica(router))).isTrue();
        }
        assertThat(count("headroom.db.connections", "router", "spread", "server", "r1"))
                .isEqualTo(10);
        assertThat(count("headroom.db.connections", "router", "spread", "server", "r2"))
                .isEqualTo(10);
    }
}
