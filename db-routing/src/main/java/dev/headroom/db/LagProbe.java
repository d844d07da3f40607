package dev.headroom.db;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Reads replication positions, for lag-aware routing and read-your-writes. One implementation per
 * database; {@link PostgresLagProbe} is the default.
 *
 * <p>Positions are numbers that grow with the primary's history (a PostgreSQL LSN as an unsigned
 * 64-bit value fits a positive {@code long} in practice); the byte lag is the difference between the
 * primary's position and the replica's replayed one. The router derives the lag in time itself, from
 * the primary's positions sampled over time: a replica that has replayed position {@code R} is as old
 * as the last moment the primary was seen at or before {@code R}. So a probe needs no clock and no
 * "last transaction" timestamp, and a quiet primary does not make caught-up replicas look behind.
 *
 * <p>Implementations are stateless and thread-safe; each method runs one short query on the
 * connection it is given and must not close it. The router bounds each call with a network timeout
 * on that connection.
 */
public interface LagProbe {

    /**
     * Returns the primary's current position: every transaction committed before this call is at
     * or before it, and a replica that has replayed everything the primary wrote before this call
     * reports a replay position at or past it (so positions inside a page header must be moved back
     * to the page boundary, see {@link PostgresLagProbe}).
     *
     * @param primary a connection to the primary
     * @return the position
     * @throws SQLException if the query fails
     */
    long primaryPosition(Connection primary) throws SQLException;

    /**
     * Returns the position the replica has replayed up to.
     *
     * @param replica a connection to the replica
     * @return the replayed position
     * @throws SQLException if the query fails
     * @throws NotAReplicaException if the server is not a replica (e.g. promoted)
     */
    long replayPosition(Connection replica) throws SQLException;

    /**
     * Reads the replica's replay position and whether its link to the primary is up.
     *
     * @param replica a connection to the replica
     * @return what the replica reports
     * @throws SQLException if the query fails
     * @throws NotAReplicaException if the server is not a replica
     */
    ReplicaStatus replicaStatus(Connection replica) throws SQLException;

    /**
     * Encodes a primary position as a consistency token's wire form (header- and cookie-safe).
     *
     * @param position a primary position
     * @return the wire form
     */
    String encode(long position);

    /**
     * Decodes {@link #encode(long)}'s output.
     *
     * @param token the wire form
     * @return the position
     * @throws IllegalArgumentException if the token was not made by this probe's {@code encode}
     */
    long decode(String token);

    /** A server the router was told is a replica is not one (it was promoted, or misconfigured). */
    final class NotAReplicaException extends SQLException {
        private static final long serialVersionUID = 1L;

        public NotAReplicaException(String message) {
            super(message);
        }
    }
}
