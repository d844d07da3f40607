package dev.headroom.shard;

import java.sql.SQLNonTransientException;

/**
 * A {@link ShardedDataSource} was asked for a connection without a shard key: there is deliberately
 * no default shard, because silently writing a tenant's rows to the wrong database is worse than
 * failing.
 */
public final class NoShardKeyException extends SQLNonTransientException {
    private static final long serialVersionUID = 1L;

    public NoShardKeyException(String message) {
        super(message);
    }
}
