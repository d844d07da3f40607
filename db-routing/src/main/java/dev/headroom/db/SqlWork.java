package dev.headroom.db;

import java.sql.SQLException;

/**
 * Work run inside a routing scope, such as {@link RoutingDataSource#replica(SqlWork)}.
 *
 * @param <T> the result type
 */
@FunctionalInterface
public interface SqlWork<T> {
    /**
     * Runs the work; connections it obtains from the router follow the scope's route.
     *
     * @return the result
     * @throws SQLException as thrown by the work
     */
    T run() throws SQLException;
}
