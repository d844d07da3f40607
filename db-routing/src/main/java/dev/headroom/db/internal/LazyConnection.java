package dev.headroom.db.internal;

import dev.headroom.db.Route;
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
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * The connection {@code RoutingDataSource} hands out. It records the session settings a caller makes
 * ({@code setAutoCommit}, {@code setReadOnly}, {@code setTransactionIsolation}, {@code setSchema},
 * {@code setCatalog}, {@code setHoldability}, {@code setTypeMap}, {@code setClientInfo}, {@code
 * setNetworkTimeout}) and takes a physical connection only at the first call that needs one; the
 * router then routes by {@link #wantsReplica()}, so a read-only flag set after {@code
 * getConnection()} still routes the read (Spring's routing proxy gets this wrong:
 * spring-framework #19688). The recorded settings are replayed on every physical connection it
 * binds.
 *
 * <p>A binding changes only while that cannot split a transaction:
 *
 * <ul>
 *   <li>Bound to a replica, a setting that rules a replica out ({@code setReadOnly(false)}, {@code
 *       setAutoCommit(false)} without read-only, {@code SERIALIZABLE}) gives the replica
 *       connection back and the next statement binds anew, on the primary; inside a transaction
 *       that has run statements on the replica it throws {@link SQLException} with SQLState {@code
 *       25006} instead. A write never runs on a replica.
 *   <li>Bound by a call that runs no statement (getters, {@code getMetaData}, {@code isWrapperFor},
 *       {@code nativeSQL}), a setting that changes where the connection wants to go rebinds it the
 *       same way.
 *   <li>Once statements ran on the primary it stays there: {@code setReadOnly(true)} then makes
 *       the primary session read-only.
 * </ul>
 *
 * <p>Getters answer from recorded settings; what was never set is read from a physical connection
 * (bound then, and rebindable as above). {@link #isValid(int)} without a physical connection
 * answers whether this connection is open: it holds no server connection to check, and the pool
 * checks the one it binds. Statements, savepoints and objects taken from a physical connection
 * that is given back are closed with it.
 *
 * <p>Not thread-safe, like a JDBC connection.
 */
public final class LazyConnection implements Connection {

    /**
     * Opens the physical connection for a logical one, given what the caller asked for; calls
     * {@link #countInFlight} when the connection is a replica's.
     */
    public interface Opener {
        Connection open(LazyConnection connection) throws SQLException;

        /**
         * A replica's physical connection was found broken when released (its pool had closed it
         * after a connection error): the replica is likely down, and its idle pooled connections too.
         */
        void replicaBroken(ReplicaNode node);
    }

    private final Opener opener;
    private final RouteHint hint;
    private @Nullable Connection target;
    private @Nullable AtomicInteger inFlight;
    private @Nullable ReplicaNode replica;
    private boolean closed;

    // What this binding is: whether the connection wanted a replica when bound, whether a
    // statement-producing call reached it, and whether one did since the transaction began.
    private boolean boundWantingReplica;
    private boolean statementsRun;
    private boolean transactionWork;

    // The caller's session settings, replayed on each physical connection.
    private boolean autoCommit = true;
    private boolean readOnly;
    private boolean readOnlySet;
    private int isolation = -1;
    private int holdability = -1;
    private @Nullable String schema;
    private @Nullable String catalog;
    private @Nullable Map<String, Class<?>> typeMap;
    private @Nullable Properties clientInfo;
    private @Nullable Executor networkTimeoutExecutor;
    private int networkTimeout = -1;

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

    /**
     * Whether the next physical connection may be a replica's: never inside {@code primary(...)},
     * for critical requests, or at {@code SERIALIZABLE} (a hot standby refuses it); then yes when
     * read-only was asked for; else, inside {@code replica(...)}, unless the caller said {@code
     * setReadOnly(false)} or began a read-write transaction ({@code setAutoCommit(false)}).
     */
    public boolean wantsReplica() {
        if (hint.scope() == Route.PRIMARY || hint.critical() || isolation == TRANSACTION_SERIALIZABLE) {
            return false;
        }
        if (readOnly) {
            return true;
        }
        return hint.scope() == Route.REPLICA && !readOnlySet && autoCommit;
    }

    /** Records that the physical connection is {@code node}'s, counted in its in-flight count until released. */
    public void boundTo(ReplicaNode node) {
        AtomicInteger counter = node.inFlightCounter();
        counter.incrementAndGet();
        this.inFlight = counter;
        this.replica = node;
    }

    /** Whether a physical connection has been taken. */
    public boolean isOpened() {
        return target != null;
    }

    /** Whether the physical connection is a replica's. */
    private boolean onReplica() {
        return inFlight != null;
    }

    private Connection target() throws SQLException {
        Connection t = target;
        if (t != null) {
            return t;
        }
        checkOpen();
        boolean wanting = wantsReplica();
        Connection c = opener.open(this);
        try {
            replaySettings(c);
        } catch (SQLException | RuntimeException e) {
            try {
                release(c);
            } catch (SQLException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        target = c;
        boundWantingReplica = wanting;
        statementsRun = false;
        transactionWork = false;
        return c;
    }

    /** The physical connection, for a call that may run statements or hand out its objects. */
    private Connection work() throws SQLException {
        Connection t = target();
        statementsRun = true;
        if (!autoCommit) {
            transactionWork = true;
        }
        return t;
    }

    private void replaySettings(Connection c) throws SQLException {
        if (readOnlySet || readOnly) {
            c.setReadOnly(readOnly);
        }
        if (isolation != -1) {
            c.setTransactionIsolation(isolation);
        }
        String s = schema;
        if (s != null) {
            c.setSchema(s);
        }
        String cat = catalog;
        if (cat != null) {
            c.setCatalog(cat);
        }
        if (holdability != -1) {
            c.setHoldability(holdability);
        }
        Map<String, Class<?>> types = typeMap;
        if (types != null) {
            c.setTypeMap(types);
        }
        Properties info = clientInfo;
        if (info != null) {
            c.setClientInfo(info);
        }
        Executor executor = networkTimeoutExecutor;
        if (executor != null) {
            c.setNetworkTimeout(executor, networkTimeout);
        }
        // Last: some drivers begin a transaction for a session setting made with auto-commit off,
        // and read-only or isolation cannot change inside one.
        if (!autoCommit) {
            c.setAutoCommit(false);
        }
    }

    /**
     * After a setting changed: gives the physical connection back if it no longer fits and no
     * transaction would be split, so that the next call binds anew.
     *
     * @return whether the connection was given back
     */
    private boolean rebindIfNeeded(String setting) throws SQLException {
        Connection t = target;
        if (t == null) {
            return true;
        }
        boolean wanting = wantsReplica();
        if (onReplica()) {
            if (wanting) {
                return false;
            }
            if (transactionWork) {
                throw new SQLException(
                        setting + " inside a transaction that has run statements on a replica: a replica cannot"
                                + " write or run it, and moving to the primary would split the transaction;"
                                + " commit or roll back first, or make the setting before the transaction's"
                                + " first statement",
                        "25006");
            }
        } else if (!wanting || statementsRun || boundWantingReplica) {
            // On the primary: move only a binding no statement has used, to a replica it now wants.
            return false;
        }
        target = null;
        release(t);
        return true;
    }

    private void checkOpen() throws SQLException {
        if (closed) {
            throw new SQLNonTransientConnectionException("connection is closed", "08003");
        }
    }

    @Override
    public void setAutoCommit(boolean autoCommit) throws SQLException {
        checkOpen();
        boolean before = this.autoCommit;
        this.autoCommit = autoCommit;
        try {
            if (rebindIfNeeded("setAutoCommit(" + autoCommit + ")")) {
                return;
            }
        } catch (SQLException | RuntimeException e) {
            this.autoCommit = before;
            throw e;
        }
        Connection t = Objects.requireNonNull(target);
        try {
            t.setAutoCommit(autoCommit);
        } catch (SQLException | RuntimeException e) {
            this.autoCommit = before;
            throw e;
        }
        if (before != autoCommit) {
            transactionWork = false; // turning it on commits; turning it off begins afresh
        }
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
        boolean before = this.readOnly;
        boolean beforeSet = this.readOnlySet;
        this.readOnly = readOnly;
        this.readOnlySet = true;
        try {
            if (!rebindIfNeeded("setReadOnly(" + readOnly + ")")) {
                Objects.requireNonNull(target).setReadOnly(readOnly);
            }
        } catch (SQLException | RuntimeException e) {
            this.readOnly = before;
            this.readOnlySet = beforeSet;
            throw e;
        }
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
        int before = this.isolation;
        this.isolation = level;
        try {
            if (!rebindIfNeeded("setTransactionIsolation(" + level + ")")) {
                Objects.requireNonNull(target).setTransactionIsolation(level);
            }
        } catch (SQLException | RuntimeException e) {
            this.isolation = before;
            throw e;
        }
    }

    @Override
    public int getTransactionIsolation() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t == null && isolation != -1) {
            return isolation;
        }
        return target().getTransactionIsolation();
    }

    @Override
    public void commit() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.commit();
            transactionWork = false;
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
            transactionWork = false;
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
        ReplicaNode node = replica;
        inFlight = null;
        replica = null;
        try {
            if (node != null && brokenByItsPool(c)) {
                opener.replicaBroken(node);
            }
            c.close();
        } finally {
            if (counter != null) {
                counter.decrementAndGet();
            }
        }
    }

    /**
     * Whether the pool closed the connection under us: HikariCP marks a connection broken, and
     * reports it closed, after an error of SQLState class 08 (connection exception) or similar.
     */
    private static boolean brokenByItsPool(Connection c) {
        try {
            return c.isClosed();
        } catch (SQLException e) {
            return true;
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
    public void setClientInfo(String name, @Nullable String value) throws SQLClientInfoException {
        try {
            checkOpen();
            Connection t = target;
            if (t != null) {
                t.setClientInfo(name, value);
            }
        } catch (SQLClientInfoException e) {
            throw e;
        } catch (SQLException e) {
            throw new SQLClientInfoException(e.getMessage(), e.getSQLState(), Map.<String, ClientInfoStatus>of(), e);
        }
        Properties info = clientInfo != null ? clientInfo : new Properties();
        if (value == null) {
            info.remove(name);
        } else {
            info.setProperty(name, value);
        }
        clientInfo = info;
    }

    @Override
    public void setClientInfo(Properties properties) throws SQLClientInfoException {
        try {
            checkOpen();
            Connection t = target;
            if (t != null) {
                t.setClientInfo(properties);
            }
        } catch (SQLClientInfoException e) {
            throw e;
        } catch (SQLException e) {
            throw new SQLClientInfoException(e.getMessage(), e.getSQLState(), Map.<String, ClientInfoStatus>of(), e);
        }
        Properties info = new Properties();
        info.putAll(properties);
        clientInfo = info;
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        return work().unwrap(iface); // the caller may run statements on what it unwraps
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || target().isWrapperFor(iface);
    }

    @Override
    public Statement createStatement() throws SQLException {
        return work().createStatement();
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency) throws SQLException {
        return work().createStatement(resultSetType, resultSetConcurrency);
    }

    @Override
    public Statement createStatement(int resultSetType, int resultSetConcurrency, int resultSetHoldability)
            throws SQLException {
        return work().createStatement(resultSetType, resultSetConcurrency, resultSetHoldability);
    }

    @Override
    public PreparedStatement prepareStatement(String sql) throws SQLException {
        return work().prepareStatement(sql);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int resultSetType, int resultSetConcurrency)
            throws SQLException {
        return work().prepareStatement(sql, resultSetType, resultSetConcurrency);
    }

    @Override
    public PreparedStatement prepareStatement(
            String sql, int resultSetType, int resultSetConcurrency, int resultSetHoldability) throws SQLException {
        return work().prepareStatement(sql, resultSetType, resultSetConcurrency, resultSetHoldability);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        return work().prepareStatement(sql, autoGeneratedKeys);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        return work().prepareStatement(sql, columnIndexes);
    }

    @Override
    public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        return work().prepareStatement(sql, columnNames);
    }

    @Override
    public CallableStatement prepareCall(String sql) throws SQLException {
        return work().prepareCall(sql);
    }

    @Override
    public CallableStatement prepareCall(String sql, int resultSetType, int resultSetConcurrency) throws SQLException {
        return work().prepareCall(sql, resultSetType, resultSetConcurrency);
    }

    @Override
    public CallableStatement prepareCall(
            String sql, int resultSetType, int resultSetConcurrency, int resultSetHoldability) throws SQLException {
        return work().prepareCall(sql, resultSetType, resultSetConcurrency, resultSetHoldability);
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
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setCatalog(catalog);
        }
        this.catalog = catalog;
    }

    @Override
    public String getCatalog() throws SQLException {
        checkOpen();
        String c = catalog;
        return target == null && c != null ? c : target().getCatalog();
    }

    @Override
    public Map<String, Class<?>> getTypeMap() throws SQLException {
        checkOpen();
        Map<String, Class<?>> types = typeMap;
        return target == null && types != null ? types : target().getTypeMap();
    }

    @Override
    public void setTypeMap(Map<String, Class<?>> map) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setTypeMap(map);
        }
        this.typeMap = map;
    }

    @Override
    public void setHoldability(int holdability) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setHoldability(holdability);
        }
        this.holdability = holdability;
    }

    @Override
    public int getHoldability() throws SQLException {
        checkOpen();
        return target == null && holdability != -1 ? holdability : target().getHoldability();
    }

    @Override
    public Savepoint setSavepoint() throws SQLException {
        return work().setSavepoint();
    }

    @Override
    public Savepoint setSavepoint(String name) throws SQLException {
        return work().setSavepoint(name);
    }

    @Override
    public void rollback(Savepoint savepoint) throws SQLException {
        work().rollback(savepoint);
    }

    @Override
    public void releaseSavepoint(Savepoint savepoint) throws SQLException {
        work().releaseSavepoint(savepoint);
    }

    @Override
    public Clob createClob() throws SQLException {
        return work().createClob();
    }

    @Override
    public Blob createBlob() throws SQLException {
        return work().createBlob();
    }

    @Override
    public NClob createNClob() throws SQLException {
        return work().createNClob();
    }

    @Override
    public SQLXML createSQLXML() throws SQLException {
        return work().createSQLXML();
    }

    @Override
    public boolean isValid(int timeout) throws SQLException {
        if (timeout < 0) {
            throw new SQLException("isValid timeout must be >= 0 seconds, was " + timeout, "22023");
        }
        if (closed) {
            return false;
        }
        // No server connection yet: nothing to check; the pool checks the one this binds.
        Connection t = target;
        return t == null || t.isValid(timeout);
    }

    @Override
    public @Nullable String getClientInfo(String name) throws SQLException {
        checkOpen();
        Properties info = clientInfo;
        if (target == null && info != null && info.containsKey(name)) {
            return info.getProperty(name);
        }
        return target().getClientInfo(name);
    }

    @Override
    public Properties getClientInfo() throws SQLException {
        return target().getClientInfo();
    }

    @Override
    public Array createArrayOf(String typeName, Object[] elements) throws SQLException {
        return work().createArrayOf(typeName, elements);
    }

    @Override
    public Struct createStruct(String typeName, Object[] attributes) throws SQLException {
        return work().createStruct(typeName, attributes);
    }

    @Override
    public void setSchema(String schema) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setSchema(schema);
        }
        this.schema = schema;
    }

    @Override
    public String getSchema() throws SQLException {
        checkOpen();
        String s = schema;
        return target == null && s != null ? s : target().getSchema();
    }

    @Override
    public void setNetworkTimeout(Executor executor, int milliseconds) throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            t.setNetworkTimeout(executor, milliseconds);
        }
        this.networkTimeoutExecutor = executor;
        this.networkTimeout = milliseconds;
    }

    @Override
    public int getNetworkTimeout() throws SQLException {
        checkOpen();
        Connection t = target;
        if (t != null) {
            return t.getNetworkTimeout();
        }
        return networkTimeout == -1 ? 0 : networkTimeout;
    }
}
