package dev.headroom.testing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;
import org.awaitility.Awaitility;

/**
 * The real streaming replica of the test PostgreSQL primary, seen through one test's schema, with
 * controls for replication: pause and resume WAL replay, measure lag, wait for catch-up.
 *
 * <p>Replay is paused for the whole server, not per test: a test that pauses it must hold the
 * {@link #REPLAY_LOCK} resource lock ({@code @ResourceLock(TestReplica.REPLAY_LOCK)}) so no parallel
 * test sees the pause. Replay is always resumed when the test ends, even if it failed.
 *
 * <p>Thread-safe.
 */
public final class TestReplica implements AutoCloseable {

    /** The JUnit resource lock every test that pauses replay must hold. */
    public static final String REPLAY_LOCK = "headroom.pg.replica.replay";

    private final PostgresEndpoint replica;
    private final TestDatabase database;

    TestReplica(PostgresEndpoint replica, TestDatabase database) {
        this.replica = replica;
        this.database = database;
    }

    /** Returns a pgjdbc URL for the replica whose connections use the test's schema. */
    public String jdbcUrl() {
        return replica.withParam("currentSchema", database.schema());
    }

    /** Returns the replica endpoint itself. */
    public PostgresEndpoint endpoint() {
        return replica;
    }

    /**
     * Opens a read-only connection to the replica, in the test's schema.
     *
     * @return a new connection; the caller closes it
     * @throws SQLException if the replica refuses
     */
    public Connection connect() throws SQLException {
        return PostgresEndpoint.connect(jdbcUrl());
    }

    /** Returns an unpooled DataSource for the replica, in the test's schema. */
    public DataSource dataSource() {
        return TestDatabase.dataSource(jdbcUrl());
    }

    /** Stops WAL replay and waits until the replica reports it paused. Hold {@link #REPLAY_LOCK}. */
    public void pauseReplay() {
        query("SELECT pg_wal_replay_pause()");
        Awaitility.await("replica replay paused")
                .atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(10))
                .until(() -> "paused".equals(query("SELECT pg_get_wal_replay_pause_state()")));
    }

    /** Resumes WAL replay. Harmless when not paused. */
    public void resumeReplay() {
        query("SELECT pg_wal_replay_resume()");
    }

    /** Returns whether replay is paused or pausing. */
    public boolean isReplayPaused() {
        return !"not paused".equals(query("SELECT pg_get_wal_replay_pause_state()"));
    }

    /** Returns the primary's current WAL position, e.g. {@code 0/3000148}. */
    public String primaryLsn() {
        try (Connection c = database.primary().connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_current_wal_lsn()::text")) {
            rs.next();
            return rs.getString(1);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read the primary's WAL position: " + e.getMessage(), e);
        }
    }

    /** Returns the last WAL position the replica has replayed. */
    public String replayLsn() {
        return query("SELECT pg_last_wal_replay_lsn()::text");
    }

    /** Returns how many bytes of WAL the primary has written that the replica has not replayed. */
    public long lagBytes() {
        String primaryLsn = primaryLsn();
        return Math.max(
                0,
                Long.parseLong(
                        query("SELECT pg_wal_lsn_diff('" + primaryLsn + "', pg_last_wal_replay_lsn())::bigint")));
    }

    /**
     * Returns how far behind the replica's replay is in time: the age of the last replayed
     * transaction, or zero when it has replayed everything it received (an idle primary writes no
     * transactions, so the age alone would grow although the replica is caught up).
     *
     * @return the replay lag, never negative
     */
    public Duration replayLag() {
        String millis = query("SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
                + " ELSE coalesce((extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)"
                + " END::text");
        return Duration.ofMillis(Math.max(0, Long.parseLong(millis)));
    }

    /**
     * Waits until the replica has replayed everything the primary had written when this was called.
     *
     * @param timeout the longest to wait
     * @throws org.awaitility.core.ConditionTimeoutException if it has not caught up in time
     */
    public void awaitCaughtUp(Duration timeout) {
        String target = primaryLsn();
        Awaitility.await("replica replays up to " + target)
                .atMost(timeout)
                .pollInterval(Duration.ofMillis(10))
                .until(() ->
                        "true".equals(query("SELECT (pg_last_wal_replay_lsn() >= '" + target + "'::pg_lsn)::text")));
    }

    /** Resumes replay so that no later test finds it paused. */
    @Override
    public void close() {
        resumeReplay();
    }

    private String query(String sql) {
        try (Connection c = replica.connect();
                PreparedStatement s = c.prepareStatement(sql);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            return rs.getString(1);
        } catch (SQLException e) {
            throw new IllegalStateException("replica query failed (" + sql + "): " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "TestReplica[" + replica.jdbcUrl() + ", schema " + database.schema() + "]";
    }
}
