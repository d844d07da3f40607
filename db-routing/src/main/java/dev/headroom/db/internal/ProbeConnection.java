package dev.headroom.db.internal;

import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.db.LagProbe;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Properties;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection a probe uses to ask one server for its position: its own physical connection,
 * outside the server's pool, so a saturated pool (every connection lent out) never stops the probe
 * that tells a busy server from a dead one. Opened on first use and kept; closed and reopened after
 * any failure. Every call is bounded by a network timeout (and opening by the driver's connect and
 * login timeouts), so a server that accepts connections but never answers fails the probe instead
 * of stalling it.
 *
 * <p>When the server was given as a plain {@link DataSource} (not a JDBC URL, nor a HikariCP pool
 * with one), the probe borrows a connection from it per call instead: then a saturated pool can
 * delay the probe up to the pool's own timeout, and the probe reports that as a failure.
 *
 * <p>Used by one probe task at a time (the prober never runs two probes of one server at once).
 */
public final class ProbeConnection implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ProbeConnection.class);

    /** Work on the probe's connection. */
    @FunctionalInterface
    public interface Call<T> {
        T run(Connection c) throws SQLException;
    }

    private final String server;
    private final @Nullable String jdbcUrl;
    private final Properties properties;
    private final @Nullable DataSource borrowFrom;
    private final int timeoutMillis;
    private volatile @Nullable Connection connection;

    private ProbeConnection(
            String server,
            @Nullable String jdbcUrl,
            Properties properties,
            @Nullable DataSource borrowFrom,
            Duration timeout) {
        this.server = server;
        this.jdbcUrl = jdbcUrl;
        this.properties = properties;
        this.borrowFrom = borrowFrom;
        this.timeoutMillis = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
    }

    /**
     * @param server names the server in logs and in the connection's {@code ApplicationName}
     * @param source a JDBC URL, or the DataSource the router was given (a HikariCP pool's URL and
     *     credentials are used to open the probe's own connection)
     * @param timeout bounds each call
     */
    public static ProbeConnection of(String server, Object source, Duration timeout) {
        Properties props = new Properties();
        String url = null;
        DataSource borrow = null;
        if (source instanceof String s) {
            url = s;
        } else if (source instanceof HikariDataSource h && h.getJdbcUrl() != null) {
            url = h.getJdbcUrl();
            props.putAll(h.getDataSourceProperties());
            if (h.getUsername() != null) {
                props.setProperty("user", h.getUsername());
            }
            if (h.getPassword() != null) {
                props.setProperty("password", h.getPassword());
            }
        } else {
            borrow = (DataSource) source;
        }
        // pgjdbc's own bounds on opening (seconds, rounded up); other drivers ignore unknown properties
        String seconds = Long.toString(Math.max(1, (timeout.toMillis() + 999) / 1000));
        props.setProperty("connectTimeout", seconds);
        props.setProperty("loginTimeout", seconds);
        props.setProperty("ApplicationName", "headroom-probe-" + server);
        return new ProbeConnection(server, url, props, borrow, timeout);
    }

    /**
     * Runs {@code call} on the probe's connection under the network timeout.
     *
     * @throws SQLException what the call or the connection threw; the connection is dropped first
     *     (except for {@link LagProbe.NotAReplicaException}, an answer rather than a failure)
     */
    public <T> T use(Call<T> call) throws SQLException {
        if (borrowFrom != null) {
            try (Connection c = borrowFrom.getConnection()) {
                c.setNetworkTimeout(Runnable::run, timeoutMillis);
                return call.run(c);
            }
        }
        Connection c = connection;
        try {
            if (c == null) {
                c = DriverManager.getConnection(java.util.Objects.requireNonNull(jdbcUrl), properties);
                c.setNetworkTimeout(Runnable::run, timeoutMillis);
                c.setAutoCommit(true);
                connection = c;
            }
            return call.run(c);
        } catch (LagProbe.NotAReplicaException e) {
            throw e;
        } catch (SQLException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Closes the probe's own connection, if open; the next call opens a new one. */
    @Override
    public void close() {
        Connection c = connection;
        connection = null;
        if (c != null) {
            try {
                c.close();
            } catch (SQLException e) {
                log.debug("closing the probe connection to {} failed: {}", server, e.toString());
            }
        }
    }
}
