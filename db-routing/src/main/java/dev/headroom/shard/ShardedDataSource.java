package dev.headroom.shard;

import dev.headroom.core.RequestContext;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A DataSource per shard (typically a {@code dev.headroom.db.RoutingDataSource}, or a plain pool),
 * chosen by a {@link ShardResolver}: explicitly with {@link #forKey(Object)}, or from the shard key
 * in the current {@link RequestContext} when used as a DataSource.
 *
 * <p>A missing shard key is a {@link NoShardKeyException}, never a default shard. Closing the
 * shards' DataSources is the caller's job.
 *
 * @param <K> the shard key type
 */
public final class ShardedDataSource<K> implements DataSource {
    private final Class<K> keyType;
    private final ShardResolver<K> resolver;
    private final Map<String, DataSource> shards;

    /**
     * @param keyType the shard key's type, to check the key found in a {@code RequestContext}
     * @param resolver maps keys to shard names
     * @param shards a DataSource for every shard name the resolver can return
     * @throws IllegalArgumentException if a shard the resolver can return has no DataSource
     */
    public ShardedDataSource(Class<K> keyType, ShardResolver<K> resolver, Map<String, ? extends DataSource> shards) {
        this.keyType = Objects.requireNonNull(keyType, "keyType");
        this.resolver = Objects.requireNonNull(resolver, "resolver");
        Objects.requireNonNull(shards, "shards");
        for (String shard : resolver.shards()) {
            if (!shards.containsKey(shard)) {
                throw new IllegalArgumentException(
                        "shards: no DataSource for shard '" + shard + "' (given: " + shards.keySet() + ")");
            }
        }
        this.shards = Map.copyOf(new LinkedHashMap<>(shards));
    }

    /** The shard name for {@code key}. */
    public String shardFor(K key) {
        return resolver.shardFor(key);
    }

    /**
     * The DataSource of {@code key}'s shard.
     *
     * @throws IllegalStateException if the resolver returns a shard outside its own {@code shards()}
     */
    public DataSource forKey(K key) {
        String shard = resolver.shardFor(key);
        DataSource dataSource = shards.get(shard);
        if (dataSource == null) {
            throw new IllegalStateException(
                    "resolver returned shard '" + shard + "', which is not among its shards " + shards.keySet());
        }
        return dataSource;
    }

    /** The DataSource of a shard by name. @throws IllegalArgumentException for an unknown name */
    public DataSource shard(String name) {
        DataSource ds = shards.get(Objects.requireNonNull(name, "name"));
        if (ds == null) {
            throw new IllegalArgumentException("unknown shard '" + name + "' (shards: " + shards.keySet() + ")");
        }
        return ds;
    }

    /**
     * A connection to the shard of the current {@link RequestContext}'s shard key.
     *
     * @throws NoShardKeyException if the context has no shard key
     * @throws SQLException if the key is of the wrong type, or as the shard's DataSource throws
     */
    @Override
    public Connection getConnection() throws SQLException {
        return contextShard().getConnection();
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return contextShard().getConnection(username, password);
    }

    private DataSource contextShard() throws SQLException {
        Optional<Object> key = RequestContext.current().shardKey();
        if (key.isEmpty()) {
            throw new NoShardKeyException("no shard key: open a RequestContext with withShardKey(...) around the work,"
                    + " or use forKey(key); there is no default shard");
        }
        Object k = key.get();
        if (!keyType.isInstance(k)) {
            // Never the key's value: it is user data (a tenant id, an email) and messages end up in logs.
            throw new SQLException("the RequestContext's shard key is a "
                    + k.getClass().getName() + ", expected " + keyType.getName());
        }
        return forKey(keyType.cast(k));
    }

    @Override
    public @org.jspecify.annotations.Nullable PrintWriter getLogWriter() {
        return null;
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
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException("ShardedDataSource logs through SLF4J");
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        throw new SQLException("ShardedDataSource does not wrap a " + iface.getName());
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return iface.isInstance(this);
    }
}
