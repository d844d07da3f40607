package dev.headroom.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.ConsistencyToken;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.awaitility.core.ConditionFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Issue 13, defect 3: saturation is not death, and token reads neither hold replica connections
 * while they wait nor trust a token from the future. Against the real primary and replica.
 */
@ExtendWith(HeadroomServices.class)
class TokenReadsIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final List<RoutingDataSource> routers = new ArrayList<>();

    @AfterEach
    void close() {
        routers.forEach(RoutingDataSource::close);
    }

    private RoutingDataSource started(RoutingDataSourceBuilder b) {
        RoutingDataSource router = b.meterRegistry(registry).build();
        routers.add(router);
        waiting().until(() -> router.isServing("r1"));
        return router;
    }

    private static RoutingDataSourceBuilder builder(String name, TestDatabase db, TestReplica replica) {
        return RoutingDataSource.builder(name)
                .primary(db.jdbcUrl())
                .replica("r1", replica.jdbcUrl())
                .probeInterval(Duration.ofMillis(100));
    }

    private static ConditionFactory waiting() {
        return await().atMost(TIMEOUT).pollInterval(Duration.ofMillis(10));
    }

    private double count(String meter, String... tags) {
        return registry.find(meter).tags(tags).counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    private static boolean inRecovery(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    /**
     * A replica pool that times out handing out a connection used to eject the replica as
     * unreachable and move every read to the primary. Saturation is back-pressure: the read fails
     * with the pool's timeout, the replica keeps serving, the primary gets nothing.
     */
    @Test
    void aSaturatedReplicaPoolIsNeverEjectedAndItsReadsDoNotMoveToThePrimary(TestDatabase db, TestReplica replica)
            throws Exception {
        RoutingDataSource router = started(builder("sat", db, replica).poolConfig(c -> {
            c.setMaximumPoolSize(1);
            c.setConnectionTimeout(250);
        }));
        try (Connection held = router.replica(() -> {
            Connection c = router.getConnection();
            assertThat(inRecovery(c))
                    .as("holds the replica pool's only connection")
                    .isTrue();
            return c;
        })) {
            for (int i = 0; i < 3; i++) {
                assertThatThrownBy(() -> router.replica(() -> {
                            try (Connection c = router.getConnection()) {
                                return inRecovery(c);
                            }
                        }))
                        .isInstanceOf(SQLTransientConnectionException.class)
                        .hasMessageContaining("saturated");
            }
            router.probeNow(); // the probe has a connection of its own: it still reaches the replica
            assertThat(router.isServing("r1")).isTrue();
        }
        assertThat(count("headroom.db.replica.ejections")).isZero();
        assertThat(count("headroom.db.replica.saturated", "replica", "r1")).isEqualTo(3);
        assertThat(count("headroom.db.fallbacks")).isZero();
        assertThat(count("headroom.db.connections", "target", "primary")).isZero();
    }

    /**
     * Each token read used to hold a replica connection while it polled for up to maxTokenWait.
     * Now waiting reads hold none, at most maxTokenWaiters wait, the rest go to the primary at once,
     * and the waiters finish on the replica once it replays their token.
     */
    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void tokenReadsWaitWithoutHoldingReplicaConnectionsAndTheirNumberIsBounded(TestDatabase db, TestReplica replica)
            throws Exception {
        db.execute("CREATE TABLE waits (id int)");
        RoutingDataSource router = started(builder("waits", db, replica)
                .poolConfig(c -> c.setMaximumPoolSize(2))
                .maxTokenWait(Duration.ofSeconds(60))
                .maxTokenWaiters(8));
        int readers = 20;
        ExecutorService pool = Executors.newFixedThreadPool(readers);
        replica.pauseReplay();
        List<Future<Boolean>> reads = new ArrayList<>();
        try {
            db.execute("INSERT INTO waits VALUES (1)");
            ConsistencyToken token = router.consistencyToken();
            CountDownLatch start = new CountDownLatch(1);
            for (int i = 0; i < readers; i++) {
                reads.add(pool.submit(() -> {
                    start.await();
                    return router.replica(token, () -> {
                        try (Connection c = router.getConnection()) {
                            return inRecovery(c);
                        }
                    });
                }));
            }
            start.countDown();
            // the overflow counter moves before its read has run on the primary: wait for both
            waiting()
                    .until(() -> count("headroom.db.token.reads", "result", "overflow") == readers - 8
                            && reads.stream().filter(Future::isDone).count() == readers - 8);
            assertThat(router.replicas().get(0).inFlight())
                    .as("replica connections held by the 8 waiting reads")
                    .isZero();
            assertThat(reads.stream().filter(f -> !f.isDone()))
                    .as("the 8 waiters, still waiting while replay is paused")
                    .hasSize(8);
        } finally {
            replica.resumeReplay();
        }
        int onReplica = 0;
        for (Future<Boolean> f : reads) {
            if (f.get()) {
                onReplica++;
            }
        }
        pool.shutdown();
        assertThat(onReplica)
                .as("the waiters, served by the replica once it replayed")
                .isEqualTo(8);
        assertThat(count("headroom.db.token.reads", "result", "waited")).isEqualTo(8);
        assertThat(count("headroom.db.connections", "target", "primary"))
                .as("the overflow, on the primary at once")
                .isEqualTo(readers - 8);
    }

    /**
     * A forged far-future token made a read poll the replica for the whole maxTokenWait and then go
     * to the primary. Now a token above the primary's position is lowered to it (one query on the
     * primary), and the read is served by the replica as usual.
     */
    @Test
    void aTokenAheadOfThePrimaryIsClampedToItAndServedByTheReplica(TestDatabase db, TestReplica replica)
            throws Exception {
        RoutingDataSource router = started(builder("forged", db, replica));
        ConsistencyToken forged = ConsistencyToken.parse("pg.7FFFFFFF.0");
        boolean onReplica = router.replica(forged, () -> {
            try (Connection c = router.getConnection()) {
                return inRecovery(c);
            }
        });
        assertThat(onReplica).isTrue();
        assertThat(count("headroom.db.token.clamped")).isEqualTo(1);
        assertThat(count("headroom.db.token.reads", "result", "fallback")).isZero();
    }

    private static int countRows(RoutingDataSource router, String table) throws SQLException {
        try (Connection c = router.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    /**
     * Adversary finding: a nested scope replaced the outer one's hint, so {@code replica(token, () ->
     * replica(...))} read without the token, from a replica that had not replayed it.
     */
    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aNestedScopeKeepsTheOuterToken(TestDatabase db, TestReplica replica) throws Exception {
        db.execute("CREATE TABLE nested (id int)");
        RoutingDataSource router = started(builder("nested", db, replica).maxTokenWait(Duration.ZERO));
        replica.pauseReplay();
        try {
            db.execute("INSERT INTO nested VALUES (1)");
            ConsistencyToken token = router.consistencyToken();
            assertThat(router.replica(token, () -> router.replica(() -> countRows(router, "nested"))))
                    .as("replica(token, replica(...))")
                    .isEqualTo(1);
            assertThat(router.replica(
                            token, () -> router.replica(Duration.ofMinutes(10), () -> countRows(router, "nested"))))
                    .as("replica(token, replica(budget, ...))")
                    .isEqualTo(1);
        } finally {
            replica.resumeReplay();
        }
    }

    /**
     * Adversary finding: every read with a forged token made one query on the primary. Checks are
     * now at most one per 20 ms, and a token far beyond the last answer is clamped without one.
     */
    @Test
    void aFloodOfForgedTokensCostsThePrimaryABoundedQueryRate(TestDatabase db, TestReplica replica) throws Exception {
        RoutingDataSource router = started(builder("flood", db, replica));
        ConsistencyToken forged = router.token("pg.7FFFFFFF.FFFFFFFF").orElseThrow();
        int reads = 300;
        long begin = System.nanoTime();
        for (int i = 0; i < reads; i++) {
            router.replica(forged, () -> countRows(router, "pg_class"));
        }
        long elapsed = System.nanoTime() - begin;
        double checks = count("headroom.db.token.checks");
        assertThat(count("headroom.db.token.clamped")).isEqualTo(reads);
        assertThat(checks)
                .as("primary queries for %d forged reads in %d ms: at most one per 20 ms", reads, elapsed / 1_000_000)
                .isLessThanOrEqualTo(1 + elapsed / 20_000_000.0);
        assertThat(count("headroom.db.token.reads", "result", "fallback")).isZero();
    }

    /**
     * Adversary findings with the primary hung (accepts, never answers): a token ahead of the
     * primary's known position waited on the primary pool's 30 s timeout, one read at a time; and a
     * replica with replay paused, fed by the still-writing primary, read as 0 lag and kept serving.
     */
    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void withThePrimaryHungTokenReadsDoNotWaitOnItAndAStalledReplicaStillAges(TestDatabase db, TestReplica replica)
            throws Exception {
        db.execute("CREATE TABLE hung_primary (id int)");
        int primaryPort =
                java.net.URI.create(db.jdbcUrl().substring("jdbc:".length())).getPort();
        dev.headroom.testing.TcpProxy toPrimary = dev.headroom.testing.TcpProxy.start("127.0.0.1", primaryPort);
        try {
            String viaProxy = db.jdbcUrl().replace(":" + primaryPort + "/", ":" + toPrimary.port() + "/");
            RoutingDataSource router = started(RoutingDataSource.builder("hungpri")
                    .primary(viaProxy)
                    .replica("r1", replica.jdbcUrl())
                    .probeInterval(Duration.ofMillis(100))
                    .maxLag(Duration.ofSeconds(1))
                    .poolConfig(c -> c.setConnectionTimeout(60_000)));
            toPrimary.hang();
            waiting().until(() -> registry.get("headroom.db.primary.up").gauge().value() == 0);

            db.execute("INSERT INTO hung_primary VALUES (1)"); // directly: the primary lives on
            String token;
            try (Connection c = java.sql.DriverManager.getConnection(db.jdbcUrl());
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT pg_current_wal_insert_lsn()::text")) {
                rs.next();
                String[] lsn = rs.getString(1).split("/");
                token = "pg." + lsn[0] + "." + lsn[1];
            }
            replica.awaitCaughtUp(TIMEOUT);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<Integer>> reads = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                reads.add(pool.submit(() -> {
                    try (var scope = dev.headroom.core.RequestContext.current()
                            .withDeadline(dev.headroom.core.Deadline.after(Duration.ofMillis(300)))
                            .open()) {
                        return router.replica(ConsistencyToken.parse(token), () -> countRows(router, "hung_primary"));
                    }
                }));
            }
            for (Future<Integer> f : reads) {
                assertThat(f.get(30, java.util.concurrent.TimeUnit.SECONDS))
                        .as("served by the replica, which replayed it, without waiting on the hung primary's pool")
                        .isEqualTo(1);
            }
            pool.shutdown();

            replica.pauseReplay();
            try {
                db.execute("INSERT INTO hung_primary VALUES (2)"); // the replica receives it, cannot replay it
                waiting().until(() -> !router.isServing("r1"));
                assertThat(count("headroom.db.replica.ejections", "reason", "lag"))
                        .isEqualTo(1);
            } finally {
                replica.resumeReplay();
            }
        } finally {
            toPrimary.close();
        }
    }
}
