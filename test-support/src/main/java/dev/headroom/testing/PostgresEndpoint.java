package dev.headroom.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Properties;

/**
 * Where a PostgreSQL server was found.
 *
 * @param jdbcUrl a pgjdbc URL including the database (and the user, if not {@code postgres})
 * @param source how it was found, for log lines: {@code env HEADROOM_PG_URL}, {@code local default},
 *     {@code testcontainers}
 */
public record PostgresEndpoint(String jdbcUrl, String source) {

    /**
     * Opens a connection to the endpoint's database.
     *
     * @return a new connection; the caller closes it
     * @throws SQLException if the server refuses
     */
    public Connection connect() throws SQLException {
        return connect(jdbcUrl);
    }

    static Connection connect(String url) throws SQLException {
        Properties props = new Properties();
        if (!url.contains("user=")) {
            props.setProperty("user", "postgres");
        }
        props.setProperty("connectTimeout", "3");
        props.setProperty("loginTimeout", "3");
        props.setProperty("socketTimeout", "60");
        return DriverManager.getConnection(url, props);
    }

    /**
     * Returns the URL with {@code param=value} added to its query string.
     *
     * @param param a pgjdbc connection parameter
     * @param value its value
     * @return the new URL
     */
    public String withParam(String param, String value) {
        return jdbcUrl + (jdbcUrl.contains("?") ? "&" : "?") + param + "=" + value;
    }
}
