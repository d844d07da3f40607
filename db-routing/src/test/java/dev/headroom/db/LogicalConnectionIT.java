package dev.headroom.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.ConsistencyToken;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The logical connection against the real primary and streaming replica: settings made after it is
 * bound move it off a replica when they must, and settings made before it is bound travel with it.
 */
@ExtendWith(HeadroomServices.class)
class LogicalConnectionIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final List<AutoCloseable> closeables = new ArrayList<>();

    private RoutingDataSourceBuilder builder(String name, TestDatabase db, TestReplica replica) {
        return RoutingDataSource.builder(name)
                .primary(db.jdbcUrl())
                .replica("r1", replica.jdbcUrl())
                .probeInterval(Duration.ofMillis(100))
                .poolConfig(c -> c.setMaximumPoolSize(4));
    }

    private RoutingDataSource started(RoutingDataSourceBuilder b) {
        RoutingDataSource router = b.build();
        closeables.add(0, router);
        router.probeNow();
        await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(10)).until(() -> router.isServing("r1"));
        return router;
    }

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    /** True when the statement ran on a server in recovery, i.e. the replica. */
    private static boolean onReplica(Connection c) throws SQLException {
        return query(c, "SELECT pg_is_in_recovery()").equals("t");
    }

    private static String query(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void insert(Connection c, int id) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.executeUpdate("INSERT INTO t VALUES (" + id + ")");
        }
    }

    private static List<Integer> ids(TestDatabase db) throws SQLException {
        List<Integer> ids = new ArrayList<>();
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT id FROM t ORDER BY id")) {
            while (rs.next()) {
                ids.add(rs.getInt(1));
            }
        }
        return ids;
    }

    private RoutingDataSource withTable(String name, TestDatabase db, TestReplica replica) {
        db.execute("CREATE TABLE t (id int PRIMARY KEY)");
        RoutingDataSource router = started(builder(name, db, replica));
        replica.awaitCaughtUp(TIMEOUT);
        return router;
    }

    @Test
    void setReadOnlyFalseMovesAReplicaBoundConnectionToThePrimaryForTheNextWrite(TestDatabase db, TestReplica replica)
            throws SQLException {
        RoutingDataSource router = withTable("ro-false", db, replica);

        try (Connection c = router.getConnection()) {
            c.setReadOnly(true);
            assertThat(onReplica(c)).isTrue();
            c.setReadOnly(false); // Spring resetting a held connection after a read-only transaction
            insert(c, 1);
            assertThat(onReplica(c)).isFalse();
        }
        router.replica(() -> {
            try (Connection c = router.getConnection()) {
                assertThat(onReplica(c)).isTrue();
                c.setReadOnly(false);
                insert(c, 2);
                assertThat(onReplica(c)).isFalse();
            }
            return null;
        });
        assertThat(ids(db)).containsExactly(1, 2);
    }

    @Test
    void setAutoCommitFalseMovesAReplicaBoundConnectionToThePrimaryForItsTransaction(
            TestDatabase db, TestReplica replica) throws SQLException {
        RoutingDataSource router = withTable("ac-false", db, replica);

        router.replica(() -> {
            try (Connection c = router.getConnection()) { // held across requests (open-session-in-view)
                assertThat(onReplica(c)).isTrue();
                c.setAutoCommit(false);
                insert(c, 1);
                assertThat(onReplica(c)).isFalse();
                c.commit();
            }
            return null;
        });
        assertThat(ids(db)).containsExactly(1);
    }

    @Test
    void leavingAReplicaInsideATransactionFailsClearlyAndWritesNothing(TestDatabase db, TestReplica replica)
            throws SQLException {
        RoutingDataSource router = withTable("in-tx", db, replica);

        try (Connection c = router.getConnection()) {
            c.setReadOnly(true);
            c.setAutoCommit(false);
            assertThat(onReplica(c)).isTrue(); // a read-only transaction is open on the replica

            assertThatThrownBy(() -> c.setReadOnly(false))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25006"))
                    .hasMessageContaining(
                            "setReadOnly(false) inside a transaction that has run statements on a replica");
            assertThatThrownBy(() -> c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE))
                    .isInstanceOfSatisfying(
                            SQLException.class, e -> assertThat(e.getSQLState()).isEqualTo("25006"));
            assertThat(c.isReadOnly()).isTrue();
            assertThat(onReplica(c))
                    .as("still the same transaction, on the replica")
                    .isTrue();
            c.rollback();
            assertThat(ids(db)).isEmpty();

            c.setReadOnly(false); // between transactions: moves
            insert(c, 1);
            assertThat(onReplica(c)).isFalse();
            c.commit();
        }
        assertThat(ids(db)).containsExactly(1);
    }

    @Test
    void settingsMadeBeforeSetReadOnlyTravelToTheReplica(TestDatabase db, TestReplica replica) throws SQLException {
        RoutingDataSource router = started(builder("replay", db, replica));

        try (Connection c = router.getConnection()) {
            c.setSchema("public");
            c.setClientInfo("ApplicationName", "lazy-it");
            c.setNetworkTimeout(Runnable::run, 7_000);
            assertThat(c.getMetaData().getDatabaseProductName()).isEqualTo("PostgreSQL"); // binds, runs nothing
            assertThat(c.isValid(1)).isTrue();
            c.getHoldability();
            c.setReadOnly(true);

            assertThat(onReplica(c)).isTrue();
            assertThat(query(c, "SELECT current_schema()")).isEqualTo("public");
            assertThat(query(c, "SELECT current_setting('application_name')")).isEqualTo("lazy-it");
            assertThat(c.getNetworkTimeout()).isEqualTo(7_000);
        }
    }

    @Test
    void springsReadOnlyTransactionThenAWriteOnTheSameHeldConnection(TestDatabase db, TestReplica replica)
            throws SQLException {
        RoutingDataSource router = withTable("spring", db, replica);

        try (Connection c = router.getConnection()) {
            // DataSourceTransactionManager.doBegin for @Transactional(readOnly = true, isolation = REPEATABLE_READ)
            c.setReadOnly(true);
            int previous = c.getTransactionIsolation();
            c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
            assertThat(c.getAutoCommit()).isTrue();
            c.setAutoCommit(false);
            assertThat(onReplica(c)).isTrue();
            assertThat(query(c, "SHOW transaction_isolation")).isEqualTo("repeatable read");
            c.commit();
            // doCleanupAfterCompletion
            c.setAutoCommit(true);
            c.setTransactionIsolation(previous);
            c.setReadOnly(false);

            // the next, read-write, @Transactional on the same held connection
            c.setAutoCommit(false);
            insert(c, 1);
            assertThat(onReplica(c)).isFalse();
            c.commit();
        }
        assertThat(ids(db)).containsExactly(1);
    }

    @Test
    void aReadOnlySerializableTransactionRunsOnThePrimary(TestDatabase db, TestReplica replica) throws SQLException {
        RoutingDataSource router = started(builder("serializable", db, replica));

        try (Connection c = router.getConnection()) {
            c.setReadOnly(true);
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
            c.setAutoCommit(false);
            assertThat(onReplica(c))
                    .as("a hot standby refuses serializable mode")
                    .isFalse();
            assertThat(query(c, "SHOW transaction_isolation")).isEqualTo("serializable");
            assertThat(query(c, "SHOW transaction_read_only")).isEqualTo("on");
            c.commit();
        }
        try (Connection c = router.getConnection()) {
            c.setReadOnly(true);
            assertThat(onReplica(c)).isTrue();
            c.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE); // no transaction open: moves
            assertThat(onReplica(c)).isFalse();
            assertThat(query(c, "SHOW transaction_isolation")).isEqualTo("serializable");
        }
    }

    @Test
    void onceStatementsRanOnThePrimarySetReadOnlyTrueKeepsThePrimary(TestDatabase db, TestReplica replica)
            throws SQLException {
        RoutingDataSource router = started(builder("stay", db, replica));

        try (Connection c = router.getConnection()) {
            assertThat(onReplica(c)).isFalse();
            c.setReadOnly(true);
            assertThat(onReplica(c)).isFalse();
            assertThat(c.isReadOnly()).isTrue();
        }
    }

    @Test
    void aLagProbeThatThrowsWhileATokenReadWaitsLeaksNoReplicaConnection(TestDatabase db, TestReplica replica)
            throws SQLException {
        HikariConfig cfg = new HikariConfig();
        cfg.setJdbcUrl(replica.jdbcUrl());
        if (!replica.jdbcUrl().contains("user=")) {
            cfg.setUsername("postgres");
        }
        cfg.setMaximumPoolSize(2);
        cfg.setConnectionTimeout(1_000);
        cfg.setPoolName("lazy-it-leak-r1");
        HikariDataSource replicaPool = new HikariDataSource(cfg);
        closeables.add(replicaPool);
        LagProbe postgres = new PostgresLagProbe();
        LagProbe broken = new LagProbe() {
            @Override
            public long primaryPosition(Connection primary) throws SQLException {
                return postgres.primaryPosition(primary);
            }

            @Override
            public long replayPosition(Connection replica) {
                throw new IllegalStateException("probe bug");
            }

            @Override
            public ReplicaStatus replicaStatus(Connection replica) throws SQLException {
                return postgres.replicaStatus(replica);
            }

            @Override
            public String encode(long position) {
                return postgres.encode(position);
            }

            @Override
            public long decode(String token) {
                return postgres.decode(token);
            }
        };
        RoutingDataSource router = started(RoutingDataSource.builder("leak")
                .primary(db.jdbcUrl())
                .replica("r1", replicaPool)
                .probeInterval(Duration.ofMillis(100))
                .lagProbe(broken));
        // Ahead of anything the probe saw: the read asks the replica, through the broken probe.
        ConsistencyToken future = ConsistencyToken.parse(postgres.encode(Long.MAX_VALUE / 2));

        for (int i = 0; i < 3; i++) { // more than the pool holds: a leak would also starve the reads
            // The wait holds no replica connection (a poller asks for the replay position; when its probe
            // throws, the waiting read gives up on the replica and the primary serves it). The token,
            // ahead of the primary, is clamped to the primary's position first, which the probe rounds
            // may already have seen the replica replay: then the replica serves it without a wait.
            router.replica(future, () -> {
                try (Connection c = router.getConnection()) {
                    return onReplica(c);
                }
            });
            assertThat(replicaPool.getHikariPoolMXBean().getActiveConnections())
                    .as("replica connections still borrowed after read %d", i + 1)
                    .isZero();
        }
    }
}
