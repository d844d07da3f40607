package dev.headroom.db;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * Reads replication positions, for lag-aware routing and read-your-writes. One implementation per
 * database; {@link PostgresLagProbe} is the default.
 *
 * <p>Positions are numbers that grow with the primary's history (a PostgreSQL LSN as an unsigned
 * 64-bit value fits a positive {@code long} in practice); the byte lag is the difference between the
 * primary's position and the replica's replayed one. Implementations are stateless and thread-safe;
 * each method runs one short query on the connection it is given and must not close it.
 */
public interface LagProbe {

    /**
     * Returns the primary's current position: every transaction committed before this call is at
     * or before it.
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
     * Measures the replica's lag against a primary position read just before.
     *
     * @param replica a connection to the replica
     * @param primaryPosition from {@link #primaryPosition(Connection)}
     * @return the lag
     * @throws SQLException if the query fails
     * @throws NotAReplicaException if the server is not a replica
     */
    ReplicaLag lag(Connection replica, long primaryPosition) throws SQLException;

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
