package dev.headroom.queue;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

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

    /**
     * Enqueues many jobs on the caller's connection, in its current transaction (see {@link
     * #enqueue(Connection, NewJob)}): all exist if and only if it commits.
     *
     * @param connection the caller's connection
     * @param jobs the jobs, in order
     * @return one result per job, in the same order
     * @throws JobStoreException if the database refuses; the caller's transaction is then aborted
     */
    default List<EnqueueResult> enqueueAll(Connection connection, List<NewJob> jobs) {
        List<EnqueueResult> results = new ArrayList<>(jobs.size());
        for (NewJob job : jobs) {
            results.add(enqueue(connection, job));
        }
        return results;
    }

    /**
     * Completes a job on the caller's connection, in its current transaction, fenced on the token:
     * the job is gone if and only if that transaction commits. A handler's writes and its job's
     * completion so commit together (exactly-once database effects); when this returns false the
     * lease is stale (the job was rescued by another worker) and the caller must roll back.
     *
     * @param connection the caller's connection, on the store's database
     * @param id the job
     * @param token the lease token
     * @return true if the job will be completed when the transaction commits; false if the token is stale
     * @throws JobStoreException if the database refuses; the caller's transaction is then aborted
     */
    boolean complete(Connection connection, JobId id, LeaseToken token);

    /**
     * Opens a connection to the store's database for a transaction of the caller's, such as a
     * handler's writes committed with its job's completion. The caller closes it.
     *
     * @return a new connection
     * @throws SQLException if none can be had
     */
    Connection connection() throws SQLException;
}
