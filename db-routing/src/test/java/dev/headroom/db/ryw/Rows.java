package dev.headroom.db.ryw;

import dev.headroom.core.ConsistencyToken;
import dev.headroom.db.RoutingDataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * The checker's data: a table {@code ryw_rows (key, version)} whose version only grows (each write
 * adds one under the row's lock and returns what it committed), written and read through a router.
 */
final class Rows {

    static final String CREATE = "CREATE TABLE ryw_rows (key int PRIMARY KEY, version bigint NOT NULL)";

    private static final String WRITE = "INSERT INTO ryw_rows AS r VALUES (?, 1)"
            + " ON CONFLICT (key) DO UPDATE SET version = r.version + 1 RETURNING version";
    private static final String READ = "SELECT (SELECT version FROM ryw_rows WHERE key = ?), pg_is_in_recovery()";

    private Rows() {}

    /** A write and the token taken after it committed: what a writer hands to a reader. */
    record Handoff(int key, long version, String token) {}

    /** Inserts or updates {@code key} on the primary through {@code router}, then takes a token. */
    static Handoff write(RoutingDataSource router, int key) throws SQLException {
        long version;
        try (Connection c = router.getConnection();
                PreparedStatement s = c.prepareStatement(WRITE)) {
            s.setInt(1, key);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                version = rs.getLong(1);
            }
        }
        return new Handoff(key, version, router.consistencyToken().toString());
    }

    /**
     * Reads the handed row inside {@code router.replica(token, ...)} (or, sabotaged, {@code
     * router.replica(...)} without the token) and records which server served it, asked in the
     * same statement.
     */
    static ReadRecord read(RoutingDataSource router, String reader, Handoff h, boolean sabotage) {
        try {
            Rows.Seen seen = sabotage
                    ? router.replica(() -> select(router, h.key()))
                    : router.replica(ConsistencyToken.parse(h.token()), () -> select(router, h.key()));
            return new ReadRecord(reader, h.key(), h.version(), seen.version(), seen.onReplica(), false, sabotage);
        } catch (SQLException e) {
            return ReadRecord.failed(reader, h.key(), h.version(), sabotage);
        }
    }

    private record Seen(long version, boolean onReplica) {}

    private static Seen select(RoutingDataSource router, int key) throws SQLException {
        try (Connection c = router.getConnection();
                PreparedStatement s = c.prepareStatement(READ)) {
            s.setInt(1, key);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                return new Seen(rs.getLong(1), rs.getBoolean(2)); // a missing row reads as version 0
            }
        }
    }
}
