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

    /**
     * Stops the replica server the way a crash would ({@code pg_ctl stop -m immediate}). Only for
     * the local replica that {@code scripts/services up} made (data directory {@code
     * HEADROOM_REPLICA_DIR}, default {@code /var/lib/postgresql/headroom-replica}). Hold {@link
     * #REPLAY_LOCK}, and call {@link #start()} in a {@code finally}.
     *
     * @throws IllegalStateException if the replica is not that local one, or pg_ctl fails
     */
    public void stopImmediately() {
        pgCtl("stop", "-m", "immediate", "-w");
    }

    /** Starts the replica {@link #stopImmediately()} stopped and waits until it has caught up. */
    public void start() {
        pgCtl(
                "start",
                "-w",
                "-t",
                "60",
                "-l",
                replicaDir().resolve("replica.log").toString());
        Awaitility.await("replica accepts connections again")
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(50))
                .ignoreExceptions()
                .until(() ->
                        "t".equals(query("SELECT pg_is_in_recovery()::text").substring(0, 1)));
        awaitCaughtUp(Duration.ofSeconds(60));
    }

    private static java.nio.file.Path replicaDir() {
        String dir = System.getenv("HEADROOM_REPLICA_DIR");
        return java.nio.file.Path.of(dir != null && !dir.isBlank() ? dir : "/var/lib/postgresql/headroom-replica");
    }

    private void pgCtl(String... args) {
        java.nio.file.Path dir = replicaDir();
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw new IllegalStateException("cannot stop or start " + this + ": no replica data directory at " + dir
                    + " (only the replica `scripts/services up` makes can be stopped by tests)");
        }
        java.util.List<String> cmd = new java.util.ArrayList<>();
        if ("root".equals(System.getProperty("user.name"))) {
            cmd.addAll(java.util.List.of("runuser", "-u", "postgres", "--"));
        }
        cmd.add(pgCtlBinary());
        cmd.add("-D");
        cmd.add(dir.toString());
        cmd.addAll(java.util.List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(90, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", cmd) + " failed: " + out);
            }
        } catch (java.io.IOException e) {
            throw new IllegalStateException(String.join(" ", cmd) + " could not run: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", cmd), e);
        }
    }

    private static String pgCtlBinary() {
        java.io.File[] versions = new java.io.File("/usr/lib/postgresql").listFiles();
        if (versions != null) {
            java.util.Arrays.sort(versions);
            for (int i = versions.length - 1; i >= 0; i--) {
                java.io.File bin = new java.io.File(versions[i], "bin/pg_ctl");
                if (bin.canExecute()) {
                    return bin.getPath();
                }
            }
        }
        return "pg_ctl";
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
