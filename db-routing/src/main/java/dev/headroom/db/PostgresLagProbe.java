package dev.headroom.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;

/**
 * {@link LagProbe} for PostgreSQL streaming replicas (9.6+ function names of 10+).
 *
 * <ul>
 *   <li>Primary position: {@code pg_current_wal_insert_lsn()} — at or past the commit record of every
 *       transaction that has committed, even with {@code synchronous_commit = off}.
 *   <li>Replay position: {@code pg_last_wal_replay_lsn()}.
 *   <li>Time lag: {@code now() - pg_last_xact_replay_timestamp()}, but zero when the replica has
 *       replayed everything it received ({@code receive LSN = replay LSN}): an idle primary writes no
 *       transactions, so the timestamp alone would make a caught-up replica look ever more behind.
 * </ul>
 *
 * <p>Tokens look like {@code pg.16.B374D848} (the LSN with {@code .} separators).
 */
public final class PostgresLagProbe implements LagProbe {
    private static final String TOKEN_PREFIX = "pg.";

    private static final String PRIMARY_SQL = "SELECT pg_current_wal_insert_lsn()::text";
    private static final String REPLAY_SQL =
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_wal_receive_lsn()::text";
    private static final String LAG_SQL = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
            + " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            + " ELSE coalesce((extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000000)::bigint, 0)"
            + " END";

    @Override
    public long primaryPosition(Connection primary) throws SQLException {
        try (PreparedStatement s = primary.prepareStatement(PRIMARY_SQL);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            return parseLsn(rs.getString(1));
        }
    }

    @Override
    public long replayPosition(Connection replica) throws SQLException {
        try (PreparedStatement s = replica.prepareStatement(REPLAY_SQL);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            requireReplica(rs.getBoolean(1), rs.getString(2));
            return parseLsn(rs.getString(2));
        }
    }

    @Override
    public ReplicaLag lag(Connection replica, long primaryPosition) throws SQLException {
        try (PreparedStatement s = replica.prepareStatement(LAG_SQL);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            requireReplica(rs.getBoolean(1), rs.getString(2));
            long replayed = parseLsn(rs.getString(2));
            long micros = Math.max(0, rs.getLong(3));
            return new ReplicaLag(replayed, Math.max(0, primaryPosition - replayed), Duration.ofNanos(micros * 1000));
        }
    }

    private static void requireReplica(boolean inRecovery, String replayLsn) throws NotAReplicaException {
        if (!inRecovery || replayLsn == null) {
            throw new NotAReplicaException("server is not a streaming replica (pg_is_in_recovery() = " + inRecovery
                    + ", replay LSN = " + replayLsn + ")");
        }
    }

    @Override
    public String encode(long position) {
        return TOKEN_PREFIX + Long.toHexString(position >>> 32).toUpperCase(java.util.Locale.ROOT) + "."
                + Long.toHexString(position & 0xFFFF_FFFFL).toUpperCase(java.util.Locale.ROOT);
    }

    @Override
    public long decode(String token) {
        if (!token.startsWith(TOKEN_PREFIX)) {
            throw new IllegalArgumentException(
                    "consistency token '" + token + "' was not issued by PostgresLagProbe (expected pg.<hi>.<lo>)");
        }
        try {
            return parseLsn(token, TOKEN_PREFIX.length(), '.');
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "consistency token '" + token + "' is malformed (expected pg.<hi>.<lo> in hex)", e);
        }
    }

    /** Parses PostgreSQL's {@code X/Y} LSN text form. */
    static long parseLsn(String lsn) {
        return parseLsn(lsn, 0, '/');
    }

    /** Parses {@code <hex><separator><hex>} from {@code start}, each part 1 to 8 hex digits. */
    private static long parseLsn(String s, int start, char separator) {
        int sep = s.indexOf(separator, start);
        int hiLength = sep - start;
        int loLength = s.length() - sep - 1;
        if (sep < 0 || hiLength < 1 || hiLength > 8 || loLength < 1 || loLength > 8) {
            throw new IllegalArgumentException("not an LSN: " + s.substring(start));
        }
        return (hex(s, start, sep) << 32) | hex(s, sep + 1, s.length());
    }

    private static long hex(String s, int from, int to) {
        long v = 0;
        for (int i = from; i < to; i++) {
            int d = Character.digit(s.charAt(i), 16);
            if (d < 0) {
                throw new IllegalArgumentException("not an LSN: " + s);
            }
            v = (v << 4) | d;
        }
        return v;
    }
}
