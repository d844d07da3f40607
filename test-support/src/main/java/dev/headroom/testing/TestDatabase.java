package dev.headroom.testing;

import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import javax.sql.DataSource;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * A schema of its own on the real PostgreSQL primary, for one test. Unqualified table names in
 * connections from {@link #connect()}, {@link #dataSource()} and {@link #jdbcUrl()} resolve to it.
 * Closing drops the schema and every database made with {@link #createDatabase()}.
 *
 * <p>Thread-safe.
 */
public final class TestDatabase implements AutoCloseable {

    private static final SecureRandom RANDOM = new SecureRandom();

    private final PostgresEndpoint primary;
    private final String schema;
    private final ReentrantLock lock = new ReentrantLock();
    private final List<String> databases = new ArrayList<>();

    TestDatabase(PostgresEndpoint primary) {
        this.primary = primary;
        this.schema = uniqueName("hr_t_");
        execute("CREATE SCHEMA " + schema);
    }

    /** Returns the primary this database lives on. */
    public PostgresEndpoint primary() {
        return primary;
    }

    /** Returns the name of this test's schema. */
    public String schema() {
        return schema;
    }

    /** Returns a pgjdbc URL whose connections use this test's schema. */
    public String jdbcUrl() {
        return primary.withParam("currentSchema", schema);
    }

    /**
     * Opens a connection that uses this test's schema.
     *
     * @return a new connection; the caller closes it
     * @throws SQLException if the server refuses
     */
    public Connection connect() throws SQLException {
        return PostgresEndpoint.connect(jdbcUrl());
    }

    /** Returns an unpooled DataSource whose connections use this test's schema. */
    public DataSource dataSource() {
        return dataSource(jdbcUrl());
    }

    static DataSource dataSource(String url) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(url);
        if (!url.contains("user=")) {
            ds.setUser("postgres");
        }
        ds.setConnectTimeout(3);
        return ds;
    }

    /**
     * Runs statements in this test's schema, each in its own auto-commit transaction.
     *
     * @param sql the statements
     * @throws IllegalStateException wrapping the first {@link SQLException}
     */
    public void execute(String... sql) {
        try (Connection c = PostgresEndpoint.connect(primary.jdbcUrl());
                Statement s = c.createStatement()) {
            s.execute("SET search_path TO " + schema);
            for (String statement : sql) {
                s.execute(statement);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("SQL failed in test schema " + schema + ": " + e.getMessage(), e);
        }
    }

    /**
     * Creates a whole database of its own on the primary (for tests that need several, such as
     * shards), dropped when this test ends.
     *
     * @return a pgjdbc URL for the new database
     */
    public String createDatabase() {
        String name = uniqueName("hr_db_");
        try (Connection c = primary.connect();
                Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException("CREATE DATABASE " + name + " failed: " + e.getMessage(), e);
        }
        lock.lock();
        try {
            databases.add(name);
        } finally {
            lock.unlock();
        }
        String url = primary.jdbcUrl();
        int slash = url.indexOf('/', "jdbc:postgresql://".length());
        int query = url.indexOf('?', slash);
        return url.substring(0, slash + 1) + name + (query < 0 ? "" : url.substring(query));
    }

    /** Drops the schema and the databases this test created. */
    @Override
    public void close() throws SQLException {
        try (Connection c = primary.connect();
                Statement s = c.createStatement()) {
            s.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
            lock.lock();
            try {
                for (String db : databases) {
                    s.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
                }
                databases.clear();
            } finally {
                lock.unlock();
            }
        }
    }

    static String uniqueName(String prefix) {
        byte[] bytes = new byte[6];
        RANDOM.nextBytes(bytes);
        return prefix + HexFormat.of().formatHex(bytes);
    }

    @Override
    public String toString() {
        return "TestDatabase[" + schema + " on " + primary.jdbcUrl() + "]";
    }
}
