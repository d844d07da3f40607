package dev.headroom.queue;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The connection a transactional handler gets: the worker's, in the job's transaction, with the
 * calls that would end or escape that transaction refused ({@code commit}, {@code rollback()},
 * {@code setAutoCommit}, {@code close}, {@code abort}). A handler that committed on its own would
 * make its writes permanent whether or not its job completes — the double effect this transaction
 * exists to prevent. Savepoints (and rolling back to one) stay allowed.
 */
final class HandlerConnection implements InvocationHandler {

    private static final Set<String> REFUSED = Set.of("commit", "setAutoCommit", "close", "abort");

    private final Connection connection;

    private HandlerConnection(Connection connection) {
        this.connection = connection;
    }

    static Connection of(Connection connection) {
        return (Connection) Proxy.newProxyInstance(
                HandlerConnection.class.getClassLoader(),
                new Class<?>[] {Connection.class},
                new HandlerConnection(connection));
    }

    @Override
    public @Nullable Object invoke(Object proxy, Method method, @Nullable Object[] args) throws Throwable {
        String name = method.getName();
        boolean wholeRollback = name.equals("rollback") && (args == null || args.length == 0);
        if (REFUSED.contains(name) || wholeRollback) {
            throw new SQLException("a transactional handler must not call " + name
                    + "() on ctx.connection(): the job's transaction commits with its completion when the handler"
                    + " returns, and rolls back when it throws");
        }
        if (name.equals("unwrap") || name.equals("isWrapperFor")) {
            throw new SQLException("a transactional handler's connection cannot be unwrapped");
        }
        try {
            return method.invoke(connection, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
