package dev.headroom.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Proves the harness hands out a real streaming replica whose replay the test controls. */
@ExtendWith(HeadroomServices.class)
class ReplicaHarnessIT {

    /** The longest a wait for replay may take: a busy shared primary and replica can be slow. */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Test
    void theReplicaIsARealStandbyOfThePrimary(TestDatabase db, TestReplica replica) throws SQLException {
        try (Connection c = replica.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            assertThat(rs.getBoolean(1)).isTrue();
        }
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            assertThat(rs.getBoolean(1)).isFalse();
        }
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void rowsReachTheReplicaOnlyWhileReplayRuns(TestDatabase db, TestReplica replica) throws SQLException {
        db.execute("CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items VALUES (1)");
        replica.awaitCaughtUp(TIMEOUT);
        assertThat(count(replica, 1)).isEqualTo(1);

        replica.pauseReplay();
        assertThat(replica.isReplayPaused()).isTrue();
        db.execute("INSERT INTO items VALUES (2)");
        assertThat(replica.lagBytes()).isPositive();
        assertThat(count(replica, 2))
                .as("row 2 must not be visible while replay is paused")
                .isZero();

        replica.resumeReplay();
        replica.awaitCaughtUp(TIMEOUT);
        assertThat(count(replica, 2)).isEqualTo(1);
        // Awaited, not asserted at once: other builds may write to the shared primary meanwhile.
        org.awaitility.Awaitility.await("no lag in bytes nor in time once caught up")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(10))
                .until(() -> replica.lagBytes() == 0 && replica.replayLag().isZero());
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void replayLagInTimeGrowsWhilePaused(TestDatabase db, TestReplica replica) {
        db.execute("CREATE TABLE ticks (id int)");
        replica.awaitCaughtUp(TIMEOUT);
        replica.pauseReplay();
        db.execute("INSERT INTO ticks VALUES (1)");
        // The replica has received WAL it has not replayed; the age of its last replayed
        // transaction is reported once that transaction is older than the unreplayed WAL.
        org.awaitility.Awaitility.await()
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(50))
                .until(() -> replica.replayLag().compareTo(Duration.ofMillis(100)) > 0);
        replica.resumeReplay();
        replica.awaitCaughtUp(TIMEOUT);
        org.awaitility.Awaitility.await("no lag in time once caught up")
                .atMost(TIMEOUT)
                .pollInterval(Duration.ofMillis(10))
                .until(() -> replica.replayLag().isZero());
    }

    private static int count(TestReplica replica, int id) throws SQLException {
        try (Connection c = replica.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM items WHERE id = " + id)) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
