package dev.headroom.cache.coherence;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * The source of truth that separate processes share: a table {@code (k int primary key, version
 * bigint)} in PostgreSQL, bumped with {@code UPDATE ... SET version = version + 1 RETURNING version}
 * (atomic under PostgreSQL's row lock). The coordinator {@link #create}s and {@link #drop}s the table;
 * workers {@link #open} it. Thread-safe: each call borrows a connection of its own from a small pool.
 */
final class PostgresSource implements SourceOfTruth {

    /** Where the checker's PostgreSQL is; {@code -Dcoherence.pgUrl} overrides it. */
    static final String DEFAULT_URL = "jdbc:postgresql://127.0.0.1:5432/test";

    private static final Pattern TABLE = Pattern.compile("[a-z_][a-z0-9_]*");

    private final String url;
    private final String table;
    private final ConcurrentLinkedQueue<Connection> idle = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Connection> all = new ConcurrentLinkedQueue<>();

    private PostgresSource(String url, String table) {
        if (!TABLE.matcher(table).matches()) {
            throw new IllegalArgumentException("table: not a plain lower-case SQL name: '" + table + "'");
        }
        this.url = url;
        this.table = table;
    }

    static String url() {
        return System.getProperty("coherence.pgUrl", DEFAULT_URL);
    }

    /** Creates {@code table} with {@code keys} keys at version 1 (replacing one left by an earlier run). */
    static PostgresSource create(String url, String table, int keys) {
        PostgresSource source = new PostgresSource(url, table);
        source.run(c -> {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS " + table);
                s.execute("CREATE TABLE " + table + " (k int PRIMARY KEY, version bigint NOT NULL)");
                s.execute("INSERT INTO " + table + " SELECT g, 1 FROM generate_series(0, " + (keys - 1) + ") g");
            }
            return 0L;
        });
        return source;
    }

    /** A worker's handle on a table the coordinator created. */
    static PostgresSource open(String url, String table) {
        PostgresSource source = new PostgresSource(url, table);
        source.version(0); // fails now, with the message, rather than in the first load
        return source;
    }

    @Override
    public long version(int k) {
        return run(c -> single(c, "SELECT version FROM " + table + " WHERE k = ?", k));
    }

    @Override
    public long bump(int k) {
        return run(c -> single(c, "UPDATE " + table + " SET version = version + 1 WHERE k = ? RETURNING version", k));
    }

    /** Drops the table; the coordinator's last act. */
    void drop() {
        run(c -> {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS " + table);
            }
            return 0L;
        });
    }

    private static long single(Connection c, String sql, int k) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(sql)) {
            s.setInt(1, k);
            try (ResultSet r = s.executeQuery()) {
                if (!r.next()) {
                    throw new SQLException("no row for key " + k);
                }
                return r.getLong(1);
            }
        }
    }

    private interface Call {
        long on(Connection c) throws SQLException;
    }

    private long run(Call call) {
        Connection c = idle.poll();
        try {
            if (c == null) {
                c = connect();
            }
            long result = call.on(c);
            idle.add(c);
            return result;
        } catch (SQLException e) {
            closeQuietly(c);
            throw new IllegalStateException(
                    "the coherence checker's source of truth (table " + table + " at " + url + ") failed: "
                            + e.getMessage(),
                    e);
        }
    }

    private Connection connect() {
        try {
            Properties props = new Properties();
            props.setProperty("user", "postgres");
            // generous: worker JVMs start all at once, and the machine may be busy with them
            props.setProperty("connectTimeout", "20");
            props.setProperty("loginTimeout", "20");
            props.setProperty("socketTimeout", "60");
            Connection c = DriverManager.getConnection(url, props);
            all.add(c);
            return c;
        } catch (SQLException e) {
            throw new IllegalStateException(
                    "the separate-process coherence checker needs PostgreSQL at " + url
                            + " (user postgres, trust auth, database test): start it with `service postgresql start`"
                            + " or point -Dcoherence.pgUrl at one (" + e.getMessage() + ")",
                    e);
        }
    }

    private static void closeQuietly(@Nullable Connection c) {
        if (c != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // already broken
            }
        }
    }

    @Override
    public void close() {
        all.forEach(PostgresSource::closeQuietly);
        all.clear();
        idle.clear();
    }
}
