package dev.headroom.db.internal;

import java.sql.Array;
import java.sql.Blob;
import java.sql.CallableStatement;
import java.sql.ClientInfoStatus;
import java.sql.Clob;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.NClob;
import java.sql.PreparedStatement;
import java.sql.SQLClientInfoException;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLWarning;
import java.sql.SQLXML;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Struct;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * The connection {@code RoutingDataSource} hands out: it records {@code setAutoCommit}, {@code
 * setReadOnly} and {@code setTransactionIsolation} until the first call that needs the database,
 * and only then asks the router for a physical connection, so that a read-only flag set after
 * {@code getConnection()} still routes the read (Spring's routing proxy gets this wrong:
 * spring-framework #19688). From then on every call goes to that one physical connection, so a
 * transaction never spans two servers.
 *
 * <p>Not thread-safe, like a JDBC connection.
 */
public final class LazyConnection implements Connection {

    /**
     * Opens the physical connection for a logical one, given what the caller asked for; may call
     * {@link #countInFlight} on it.
     */
    @FunctionalInterface
    public interface Opener {
        Connection open(LazyConnection connection) throws SQLException;
    }

    private final Opener opener;
    private final RouteHint hint;
    private @Nullable Connection target;
    private @Nullable AtomicInteger inFlight;
    private boolean closed;
    private boolean autoCommit = true;
    private boolean readOnly;
    private int isolation = -1;

    public LazyConnection(Opener opener, RouteHint hint) {
        this.opener = opener;
        this.hint = hint;
    }

    /** What the scope and request context said when the connection was obtained. */
    public RouteHint hint() {
        return hint;
    }

    public boolean readOnlyRequested() {
        return readOnly;
    }

    public boolean autoCommitRequested() {
        return autoCommit;
    }

    /** Counts the physical connection in {@code counter} until it is released. */
    public void countInFlight(AtomicInteger counter) {
        counter.incrementAndGet();
        this.inFlight = counter;
    }

    /** Whether a physical connection has been taken. */
    public boolean isOpened() {
        return target != null;
    }

    private Connection target() throws SQLException {
        Connection t = target;
        if (t != null) {
            return t;
        }
        if (closed) {
            throw new SQLNonTransientConnectionException("connection is closed", "08003");
        }
        Connection c = opener.open(this);
        try {
            if (!autoCommit) {
                c.setAutoCommit(false);
            }
            if (readOnly) {
                c.setReadOnly(true);
            }
            if (isolation != -1) {
                c.setTransactionIsolation(isolation);
            }
        } catch (SQLException e) {
            try {
                release(c);
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        target = c;
        return c;
    }

    private void checkOpen() throws SQLException {
        if (closed) {
            throw new SQLNonTransientConnectionException("connection is closed", "08003");
        }
    }

    @Override
    public void setAutoCommit(boolean autoCommit) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setAutoCommit(autoCommit);
        }
        this.autoCommit = autoCommit;
    }

    @Override
    public boolean getAutoCommit() throws SQLException {
        checkOpen();
        Connection t = target;
        return t != null ? t.getAutoCommit() : autoCommit;
    }

    @Override
    public void setReadOnly(boolean readOnly) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setReadOnly(readOnly);
        }
        this.readOnly = readOnly;
    }

    @Override
    public boolean isReadOnly() throws SQLException {
        checkOpen();
        Connection t = target;
        return t != null ? t.isReadOnly() : readOnly;
    }

    @Override
    public void setTransactionIsolation(int level) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setTransactionIsolation(level);
        }
        this.isolation = level;
    }

    @Override
    public int getTransactionIsolation() throws SQLException {
        return target().getTransactionIsolation();
    }

    @Override
    public void commit() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.commit();
        } else if (autoCommit) {
            throw new SQLException("commit() with auto-commit enabled", "25000");
        }
    }

    @Override
    public void rollback() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.rollback();
        } else if (autoCommit) {
            throw new SQLException("rollback() with auto-commit enabled", "25000");
        }
    }

    @Override
    public void close() throws SQLException {
        if (closed) {
            return;
        }
        closed = true;
        Connection t = target;
        target = null;
        if (t != null) {
            release(t);
        }
    }

    private void release(Connection c) throws SQLException {
        AtomicInteger counter = inFlight;
        inFlight = null;
        try {
            c.close();
        } finally {
            if (counter != null) {
                counter.decrementAndGet();
            }
        }
    }

    @Override
    public boolean isClosed() throws SQLException {
        Connection t = target;
        return closed || (t != null && t.isClosed());
    }

    @Override
    public void abort(Executor executor) throws SQLException {
        Connection t = target;
        closed = true;
        target = null;
        if (t != null) {
            t.abort(executor);
            release(t);
        }
    }

    @Override
    public @Nullable SQLWarning getWarnings() throws SQLException {
        checkOpen();
        Connection t = target;
        return t != null ? t.getWarnings() : null;
    }

    @Override
    public void clearWarnings() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.clearWarnings();
        }
    }

    @Override
    public void setClientInfo(String name, String value) throws SQLClientInfoException {
        try {
            target().setClientInfo(name, value);
        } catch (SQLClientInfoException e) {
            throw e;
        } catch (SQLException e) {
            throw new SQLClientInfoException(e.getMessage(), e.getSQLState(), Map.<String, ClientInfoStatus>of(), e);
        }
    }

    @Override
    public void setClientInfo(Properties properties) throws SQLClientInfoException {
        try {
            target().setClientInfo(properties);
        } catch (SQLClientInfoException e) {
            throw e;
        } catch (SQLException e) {
            throw new SQLClientInfoException(e.getMessage(), e.getSQLState(), Map.<String, ClientInfoStatus>of(), e);
        }
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        return target().unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || target().isWrapperFor(iface);
    }

    @Override
    public Statement createStatement() throws SQLException {
        return target().createStatement();
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency) throws SQLException {
        return target().createStatement(resultSetType, resultSetConcurrency);
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency, int resultSetHoldability)
            throws SQLException {
        return target().createStatement(resultSetType, resultSetConcurrency, resultSetHoldability);
    }

    @Override
    public PreparedStatement prepareStatement(String sql) throws SQLException {
        return target().prepareStatement(sql);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int resultSetType, int resultSetConcurrency)
            throws SQLException {
        return target().prepareStatement(sql, resultSetType, resultSetConcurrency);
    }

    @Override
    public PreparedStatement prepareStatement(
            String sql, int resultSetType, int resultSetConcurrency, int resultSetHoldability) throws SQLException {
        return target().prepareStatement(sql, resultSetType, resultSetConcurrency, resultSetHoldability);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        return target().prepareStatement(sql, autoGeneratedKeys);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        return target().prepareStatement(sql, columnIndexes);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        return target().prepareStatement(sql, columnNames);
    }

    @Override
    public CallableStatement prepareCall(String sql) throws SQLException {
        return target().prepareCall(sql);
    }

    @Override
    public CallableStatement prepareCall(String sql, int resultSetType, int resultSetConcurrency) throws SQLException {
        return target().prepareCall(sql, resultSetType, resultSetConcurrency);
    }

    @Override
    public CallableStatement prepareCall(
            String sql, int resultSetType, int resultSetConcurrency, int resultSetHoldability) throws SQLException {
        return target().prepareCall(sql, resultSetType, resultSetConcurrency, resultSetHoldability);
    }

    @Override
    public String nativeSQL(String sql) throws SQLException {
        return target().nativeSQL(sql);
    }

    @Override
    public DatabaseMetaData getMetaData() throws SQLException {
        return target().getMetaData();
    }

    @Override
    public void setCatalog(String catalog) throws SQLException {
        target().setCatalog(catalog);
    }

    @Override
    public String getCatalog() throws SQLException {
        return target().getCatalog();
    }

    @Override
    public Map<String, Class<?>> getTypeMap() throws SQLException {
        return target().getTypeMap();
    }

    @Override
    public void setTypeMap(Map<String, Class<?>> map) throws SQLException {
        target().setTypeMap(map);
    }

    @Override
    public void setHoldability(int holdability) throws SQLException {
        target().setHoldability(holdability);
    }

    @Override
    public int getHoldability() throws SQLException {
        return target().getHoldability();
    }

    @Override
    public Savepoint setSavepoint() throws SQLException {
        return target().setSavepoint();
    }

    @Override
    public Savepoint setSavepoint(String name) throws SQLException {
        return target().setSavepoint(name);
    }

    @Override
    public void rollback(Savepoint savepoint) throws SQLException {
        target().rollback(savepoint);
    }

    @Override
    public void releaseSavepoint(Savepoint savepoint) throws SQLException {
        target().releaseSavepoint(savepoint);
    }

    @Override
    public Clob createClob() throws SQLException {
        return target().createClob();
    }

    @Override
    public Blob createBlob() throws SQLException {
        return target().createBlob();
    }

    @Override
    public NClob createNClob() throws SQLException {
        return target().createNClob();
    }

    @Override
    public SQLXML createSQLXML() throws SQLException {
        return target().createSQLXML();
    }

    @Override
    public boolean isValid(int timeout) throws SQLException {
        return target().isValid(timeout);
    }

    @Override
    public String getClientInfo(String name) throws SQLException {
        return target().getClientInfo(name);
    }

    @Override
    public Properties getClientInfo() throws SQLException {
        return target().getClientInfo();
    }

    @Override
    public Array createArrayOf(String typeName, Object[] elements) throws SQLException {
        return target().createArrayOf(typeName, elements);
    }

    @Override
    public Struct createStruct(String typeName, Object[] attributes) throws SQLException {
        return target().createStruct(typeName, attributes);
    }

    @Override
    public void setSchema(String schema) throws SQLException {
        target().setSchema(schema);
    }

    @Override
    public String getSchema() throws SQLException {
        return target().getSchema();
    }

    @Override
    public void setNetworkTimeout(Executor executor, int milliseconds) throws SQLException {
        target().setNetworkTimeout(executor, milliseconds);
    }

    @Override
    public int getNetworkTimeout() throws SQLException {
        return target().getNetworkTimeout();
    }
}
