package dev.headroom.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;

/**
 * Scratch databases for the queue harnesses: each run gets its own fresh database on the server at
 * {@code HEADROOM_PG_URL} (default jdbc:postgresql://127.0.0.1:5432/test, user {@code
 * HEADROOM_PG_USER} or postgres), dropped afterwards, so no run sees another's dead tuples.
 */
final class QueueBenchDatabases {
    /** HikariCP pool size on both sides. */
    static final int POOL_SIZE = 24;

    /** db-scheduler's PostgreSQL DDL (db-scheduler/src/test/resources/postgresql_tables.sql). */
    static final String DB_SCHEDULER_DDL = """
            create table scheduled_tasks (
              task_name text not null,
              task_instance text not null,
              task_data bytea,
              execution_time timestamp with time zone not null,
              picked BOOLEAN not null,
              picked_by text,
              last_success timestamp with time zone,
              last_failure timestamp with time zone,
              consecutive_failures INT,
              last_heartbeat timestamp with time zone,
              version BIGINT not null,
              priority SMALLINT,
              PRIMARY KEY (task_name, task_instance)
            );
            CREATE INDEX execution_time_idx ON scheduled_tasks (execution_time);
            CREATE INDEX last_heartbeat_idx ON scheduled_tasks (last_heartbeat);
            CREATE INDEX priority_execution_time_idx on scheduled_tasks (priority desc, execution_time asc);
            """;

    final String adminUrl;
    final String user;

    QueueBenchDatabases(String adminUrl, String user) {
        this.adminUrl = adminUrl;
        this.user = user;
    }

    static QueueBenchDatabases fromEnvironment() {
        return new QueueBenchDatabases(
                env("HEADROOM_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test"), env("HEADROOM_PG_USER", "postgres"));
    }

    HikariDataSource pool(String db) {
        HikariConfig config = new HikariConfig();
        config.setJdbcUrl(urlOf(db));
        config.setUsername(user);
        config.setMaximumPoolSize(POOL_SIZE);
        config.setPoolName("qbench-" + db);
        return new HikariDataSource(config);
    }

    /** A connection outside any pool, to the given database. */
    Connection connect(String db) throws SQLException {
        return DriverManager.getConnection(urlOf(db), user, null);
    }

    String urlOf(String db) {
        int slash = adminUrl.lastIndexOf('/');
        int query = adminUrl.indexOf('?', slash);
        return adminUrl.substring(0, slash + 1) + db + (query < 0 ? "" : adminUrl.substring(query));
    }

    String create(String prefix) throws SQLException {
        String db = prefix + Long.toString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
        admin("CREATE DATABASE " + db);
        return db;
    }

    void drop(String db) throws SQLException {
        admin("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    }

    private void admin(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(adminUrl, user, null);
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    String serverVersion() throws SQLException {
        try (Connection c = DriverManager.getConnection(adminUrl, user, null);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SHOW server_version")) {
            rs.next();
            return rs.getString(1);
        }
    }

    static void execute(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    static long count(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** "heap 1.2 MB + indexes 3.4 MB" of a table (TOAST counted in heap). */
    static String size(DataSource ds, String table) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_table_size('" + table + "'), pg_indexes_size('" + table
                        + "'), (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = '" + table + "')")) {
            rs.next();
            return String.format(
                    Locale.ROOT,
                    "%s heap %.1f MB + indexes %.1f MB (dead tuples %d)",
                    table,
                    rs.getLong(1) / 1e6,
                    rs.getLong(2) / 1e6,
                    rs.getLong(3));
        }
    }

    /**
     * Runs {@code one.accept(i)} for every i in [0, jobs) from {@code threads} threads (thread t
     * takes t, t + threads, ...); prints the first failure and throws if any call failed.
     */
    static void inThreads(int threads, int jobs, java.util.function.IntConsumer one) throws InterruptedException {
        java.util.List<Thread> started = new java.util.ArrayList<>();
        java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();
        for (int t = 0; t < threads; t++) {
            int first = t;
            Thread thread = new Thread(
                    () -> {
                        for (int i = first; i < jobs; i += threads) {
                            try {
                                one.accept(i);
                            } catch (RuntimeException e) {
                                if (failures.getAndIncrement() == 0) {
                                    e.printStackTrace();
                                }
                            }
                        }
                    },
                    "qbench-enqueue-" + t);
            started.add(thread);
            thread.start();
        }
        for (Thread thread : started) {
            thread.join();
        }
        if (failures.get() > 0) {
            throw new IllegalStateException(failures.get() + " enqueues failed");
        }
    }

    static double seconds(long nanos) {
        return nanos / 1e9;
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isBlank() ? fallback : value;
    }
}
