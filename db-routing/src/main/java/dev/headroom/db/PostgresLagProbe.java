package dev.headroom.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * {@link LagProbe} for PostgreSQL streaming replicas (function names of 10+).
 *
 * <ul>
 *   <li>Primary position: {@code pg_current_wal_insert_lsn()} — at or past the commit record of every
 *       transaction that has committed, even with {@code synchronous_commit = off}. When the insert
 *       position sits just past a WAL page header (offset 24 in a page, or 40 at the start of a
 *       segment), it is moved back to the page boundary: no record ends inside a header, and a
 *       caught-up replica reports the boundary as its replay position, so without this a token taken
 *       on a quiet primary would never be seen replayed.
 *   <li>Replica: {@code pg_last_wal_replay_lsn()}, and whether {@code pg_stat_wal_receiver} shows a
 *       receiver in state {@code streaming}.
 * </ul>
 *
 * <p>Tokens look like {@code pg.16.B374D848} (the LSN with {@code .} separators).
 */
public final class PostgresLagProbe implements LagProbe {
    private static final String TOKEN_PREFIX = "pg.";

    private static final String PRIMARY_SQL = "SELECT pg_current_wal_insert_lsn()::text,"
            + " pg_size_bytes(current_setting('wal_segment_size')), current_setting('wal_block_size')::int";
    private static final String REPLAY_SQL = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text";
    private static final String STATUS_SQL = "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
            + " coalesce((SELECT status = 'streaming' FROM pg_stat_wal_receiver LIMIT 1), false),"
            + " pg_last_wal_receive_lsn()::text";

    /** {@code SizeOfXLogShortPHD} and {@code SizeOfXLogLongPHD} on 64-bit builds. */
    private static final int SHORT_PAGE_HEADER = 24;

    private static final int LONG_PAGE_HEADER = 40;

    @Override
    public long primaryPosition(Connection primary) throws SQLException {
        try (PreparedStatement s = primary.prepareStatement(PRIMARY_SQL);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            return outOfPageHeader(parseLsn(rs.getString(1)), rs.getLong(2), rs.getInt(3));
        }
    }

    /**
     * Moves an insert position that sits just past a page header back to the page boundary, where a
     * caught-up replica's replay position is.
     */
    static long outOfPageHeader(long lsn, long segmentSize, int blockSize) {
        if (segmentSize > 0 && lsn % segmentSize == LONG_PAGE_HEADER) {
            return lsn - LONG_PAGE_HEADER;
        }
        if (blockSize > 0 && lsn % blockSize == SHORT_PAGE_HEADER) {
            return lsn - SHORT_PAGE_HEADER;
        }
        return lsn;
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
    public ReplicaStatus replicaStatus(Connection replica) throws SQLException {
        try (PreparedStatement s = replica.prepareStatement(STATUS_SQL);
                ResultSet rs = s.executeQuery()) {
            rs.next();
            requireReplica(rs.getBoolean(1), rs.getString(2));
            String received = rs.getString(4);
            return new ReplicaStatus(
                    parseLsn(rs.getString(2)), received == null ? -1 : parseLsn(received), rs.getBoolean(3));
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
            long position = parseLsn(token, TOKEN_PREFIX.length(), '.');
            if (position < 0) { // an LSN past 2^63: no real server is there
                throw new IllegalArgumentException("position out of range");
            }
            return position;
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
