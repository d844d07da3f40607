package dev.headroom.queue;

import java.sql.Connection;

/**
 * A {@link JobStore} on a relational database that can enqueue inside a caller's transaction:
 * the job exists if and only if that transaction commits. Implementations are thread-safe; the
 * connection is not, and belongs to the caller.
 */
public interface TransactionalJobStore extends JobStore {

    /**
     * Enqueues on the caller's connection, in its current transaction; neither commits nor rolls
     * back. With an idempotency key held by a concurrent, uncommitted transaction this waits for that
     * transaction to end (the database's unique-index wait). The connection must use READ COMMITTED
     * for a duplicate key to be resolved to the existing job.
     *
     * @param connection the caller's connection, on the store's database
     * @param job the job
     * @return the id and whether it was created
     * @throws JobStoreException if the database refuses; the caller's transaction is then aborted
     */
    EnqueueResult enqueue(Connection connection, NewJob job);
}
