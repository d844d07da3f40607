package dev.headroom.queue.postgres;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends the NOTIFY of enqueues that committed on their own (auto-commit), coalesced: a daemon
 * thread sends one {@code pg_notify} per queue for everything signalled since its last send. A
 * NOTIFY takes a global lock at commit, so one per enqueued job would serialise every enqueuing
 * thread behind it; this way a burst of enqueues costs one or a few. Enqueues inside a caller's
 * transaction, or in a batch, notify in their own statement instead (delivered at that commit).
 * A failed send is logged and dropped: workers' polls find those jobs.
 */
final class EnqueueNotifier {

    private static final Logger log = LoggerFactory.getLogger(EnqueueNotifier.class);

    private final DataSource dataSource;
    private final Set<String> pending = ConcurrentHashMap.newKeySet();
    private final Semaphore signalled = new Semaphore(0);
    private volatile boolean started;

    EnqueueNotifier(DataSource dataSource) {
        this.dataSource = dataSource;
    }

    /** Jobs were committed on {@code queue}: notify it soon. */
    void signal(String queue) {
        if (pending.add(queue)) {
            start();
            signalled.release();
        }
    }

    private void start() {
        if (started) {
            return;
        }
        synchronized (this) {
            if (!started) {
                Thread t = new Thread(this::run, "headroom-queue-notifier");
                t.setDaemon(true);
                t.start();
                started = true;
            }
        }
    }

    private void run() {
        while (true) {
            try {
                signalled.acquire();
            } catch (InterruptedException e) {
                return;
            }
            signalled.drainPermits();
            List<String> queues = new ArrayList<>();
            for (Iterator<String> it = pending.iterator(); it.hasNext(); ) {
                queues.add(it.next());
                it.remove(); // before the send: a signal from now on is sent again
            }
            if (!queues.isEmpty()) {
                send(queues);
            }
        }
    }

    private void send(List<String> queues) {
        try (Connection c = dataSource.getConnection();
                PreparedStatement ps = c.prepareStatement(
                        "SELECT pg_notify('" + QueueSql.CHANNEL + "', q) FROM unnest(CAST(? AS text[])) AS q")) {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            ps.setArray(1, c.createArrayOf("text", queues.toArray()));
            ps.execute();
        } catch (SQLException | RuntimeException e) {
            log.debug("queue notifications: NOTIFY for {} not sent; workers' polls find the jobs", queues, e);
        }
    }
}
