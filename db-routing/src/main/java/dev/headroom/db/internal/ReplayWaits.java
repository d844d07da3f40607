package dev.headroom.db.internal;

import dev.headroom.db.LagProbe;
import java.sql.SQLException;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits for one replica to replay a position, without holding a pooled connection: however many
 * reads wait, one poller asks the replica for its replay position (on a connection of its own,
 * under a network timeout) every {@code pollNanos}, records it on the node, and wakes the waiters.
 * So a burst of token reads costs the replica one query per poll interval, not one per waiting read
 * per poll, and its pool stays free for the reads themselves.
 *
 * <p>The poller runs only while someone waits. When the replica does not answer, the waiters give
 * up at once (their reads go to the primary); the prober decides whether the replica is out.
 */
public final class ReplayWaits implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ReplayWaits.class);

    private final ReplicaNode node;
    private final ProbeConnection connection;
    private final LagProbe probe;
    private final Executor executor;
    private final long pollNanos;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition advanced = lock.newCondition();
    private int waiters;
    private boolean polling;
    /** Bumped when a poll fails: waiters that saw the old value give up. */
    private long failures;

    private volatile boolean closed;

    public ReplayWaits(
            ReplicaNode node, ProbeConnection connection, LagProbe probe, Executor executor, long pollNanos) {
        this.node = node;
        this.connection = connection;
        this.probe = probe;
        this.executor = executor;
        this.pollNanos = pollNanos;
    }

    /**
     * Waits until the node's replay position reaches {@code position} or {@code deadline} ({@link
     * System#nanoTime()}) passes.
     *
     * @return true if it was reached; false on the deadline, an interrupt (the flag is kept), a poll
     *     that failed meanwhile, or a closed router
     */
    public boolean await(long position, long deadline) {
        lock.lock();
        try {
            if (node.replayPosition() >= position) {
                return true;
            }
            long failuresSeen = failures;
            waiters++;
            try {
                if (!polling && !closed) {
                    polling = true;
                    try {
                        executor.execute(this::poll);
                    } catch (RuntimeException e) {
                        polling = false;
                        return false;
                    }
                }
                while (node.replayPosition() < position) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || failures != failuresSeen || closed) {
                        return false;
                    }
                    advanced.awaitNanos(left);
                }
                return true;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } finally {
                waiters--;
            }
        } finally {
            lock.unlock();
        }
    }

    private void poll() {
        while (true) {
            lock.lock();
            try {
                if (waiters == 0 || closed) {
                    polling = false;
                    return;
                }
            } finally {
                lock.unlock();
            }
            boolean failed = false;
            try {
                node.observeReplay(connection.use(probe::replayPosition));
            } catch (SQLException | RuntimeException e) {
                failed = true;
                log.debug("replay position of {} not readable for token waits: {}", node.name(), e.toString());
            }
            lock.lock();
            try {
                if (failed) {
                    failures++;
                }
                advanced.signalAll();
            } finally {
                lock.unlock();
            }
            java.util.concurrent.locks.LockSupport.parkNanos(pollNanos);
        }
    }

    /** Wakes every waiter (they give up) and closes the poller's connection. */
    @Override
    public void close() {
        closed = true;
        lock.lock();
        try {
            advanced.signalAll();
        } finally {
            lock.unlock();
        }
        connection.close();
    }

    /** Waiting reads right now (tests, gauges). */
    public int waiters() {
        lock.lock();
        try {
            return waiters;
        } finally {
            lock.unlock();
        }
    }
}
