package dev.headroom.queue.postgres;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.queue.JobWakeups;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.io.PrintWriter;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The LISTEN connection goes back to its pool clean: adversary finding, a pooled connection kept
 * listening after the worker closed, buffering every later notification in the driver unread.
 */
@ExtendWith(HeadroomServices.class)
class ListenerConnectionIT {

    @Test
    void aClosedSubscriptionLeavesItsPooledConnectionListeningToNothing(TestDatabase db) throws Exception {
        try (Connection physical = db.connect()) {
            PostgresJobStore store = PostgresJobStore.create(new OneConnectionPool(physical));
            AutoCloseable subscription = store.subscribe(
                    new JobWakeups() {
                        @Override
                        public void jobsAvailable(String queue) {}
                    },
                    Duration.ofMinutes(1),
                    Duration.ofSeconds(5));
            // subscribe returned once listening; the listener thread owns the connection until closed
            subscription.close();
            assertThat(listeningChannels(physical))
                    .as("after close, back in the pool")
                    .isZero();
        }
    }

    private static long listeningChannels(Connection c) throws SQLException {
        try (Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_listening_channels()")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** A pool of one: every borrow is the same physical connection, and close() gives it back. */
    private static final class OneConnectionPool implements DataSource {
        private final Connection physical;

        OneConnectionPool(Connection physical) {
            this.physical = physical;
        }

        @Override
        public Connection getConnection() {
            return (Connection) Proxy.newProxyInstance(
                    getClass().getClassLoader(), new Class<?>[] {Connection.class}, (proxy, method, args) -> {
                        if (method.getName().equals("close")) {
                            return null; // back to the pool, still open
                        }
                        if (method.getName().equals("unwrap")) {
                            return physical.unwrap((Class<?>) args[0]);
                        }
                        try {
                            return method.invoke(physical, args);
                        } catch (java.lang.reflect.InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        @Override
        public Connection getConnection(String user, String password) {
            return getConnection();
        }

        @Override
        public PrintWriter getLogWriter() {
            return new PrintWriter(System.err);
        }

        @Override
        public void setLogWriter(PrintWriter out) {}

        @Override
        public void setLoginTimeout(int seconds) {}

        @Override
        public int getLoginTimeout() {
            return 0;
        }

        @Override
        public Logger getParentLogger() {
            return Logger.getGlobal();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            throw new SQLException("not a wrapper");
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return false;
        }
    }
}
