package dev.headroom.queue;

import java.sql.Connection;
import org.jspecify.annotations.Nullable;

/**
 * What a handler gets besides its payload: the job it runs, the connection of its transaction (for a
 * {@linkplain JobWorker.Builder#transactionalHandler transactional handler}), and whether its lease
 * has been lost. One per attempt; not thread-safe beyond {@link #leaseLost()}.
 */
public final class JobContext {

    private final ClaimedJob job;
    private final @Nullable Connection connection;
    private final JobWorker.Running running;

    JobContext(ClaimedJob job, @Nullable Connection connection, JobWorker.Running running) {
        this.job = job;
        this.connection = connection;
        this.running = running;
    }

    /** Returns the job this attempt runs. */
    public ClaimedJob job() {
        return job;
    }

    /**
     * Returns the connection of the transaction that completes this job: write through it, and the
     * writes commit if and only if the job completes (they roll back if the handler throws or the
     * lease turns out stale). Do not commit, roll back or close it.
     *
     * @return the transaction's connection
     * @throws IllegalStateException for a handler that is not transactional
     */
    public Connection connection() {
        Connection c = connection;
        if (c == null) {
            throw new IllegalStateException("job type '" + job.type()
                    + "' has a plain handler: register it with transactionalHandler to get a connection");
        }
        return c;
    }

    /**
     * Returns whether a heartbeat found this job's lease stale (it expired and another worker claimed
     * the job): the handler should stop, since its completion will be refused. Long handlers should
     * check it between steps.
     */
    public boolean leaseLost() {
        return running.leaseLost;
    }
}
