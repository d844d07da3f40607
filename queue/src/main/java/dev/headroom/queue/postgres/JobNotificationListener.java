package dev.headroom.queue.postgres;

import dev.headroom.queue.JobWakeups;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread holding one connection that LISTENs on the job channel and tells {@link JobWakeups}
 * which queue got jobs. It also checks that notifications arrive at all: every {@code probeEvery}
 * it NOTIFYs a probe on a channel of its own through another connection, and reports {@link
 * JobWakeups#notificationsMissing} when the probe has not come back within {@code probeWait} — as
 * happens behind a transaction-mode PgBouncer, where LISTEN silently hears nothing. A lost
 * connection is reopened every second until it works; notifications sent meanwhile are lost (the
 * workers' poll finds those jobs).
 */
final class JobNotificationListener implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(JobNotificationListener.class);
    static final String PROBE_CHANNEL = QueueSql.CHANNEL + "_probe";
    private static final int WAIT_MILLIS = 250;

    private final DataSource dataSource;
    private final JobWakeups wakeups;
    private final long probeEveryNanos;
    private final long probeWaitNanos;
    private final Thread thread;
    private final CountDownLatch listening = new CountDownLatch(1);
    private volatile boolean closed;

    private @Nullable String pendingProbe;
    private long probeSentAt;
    private long lastProbeAt;
    private boolean missing;

    JobNotificationListener(DataSource dataSource, JobWakeups wakeups, long probeEveryNanos, long probeWaitNanos) {
        this.dataSource = dataSource;
        this.wakeups = wakeups;
        this.probeEveryNanos = probeEveryNanos;
        this.probeWaitNanos = probeWaitNanos;
        this.thread = new Thread(this::run, "headroom-queue-listener");
        this.thread.setDaemon(true);
    }

    /** Starts the thread and waits up to {@code wait} for its first LISTEN (it goes on trying after). */
    JobNotificationListener start(long waitNanos) {
        thread.start();
        try {
            if (!listening.await(waitNanos, TimeUnit.NANOSECONDS)) {
                log.warn("queue notifications: not listening yet; workers poll until the LISTEN connection is up");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return this;
    }

    private void run() {
        while (!closed) {
            try (Connection c = dataSource.getConnection()) {
                listen(c);
            } catch (SQLException | RuntimeException e) {
                if (closed) {
                    return;
                }
                log.warn(
                        "queue notifications: LISTEN connection failed ({}); reconnecting in 1 s, workers poll meanwhile",
                        e.toString());
                pendingProbe = null;
                try {
                    TimeUnit.SECONDS.sleep(1); // paces reconnects to a database that is down
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    private void listen(Connection c) throws SQLException {
        if (!c.getAutoCommit()) {
            c.setAutoCommit(true);
        }
        try (Statement s = c.createStatement()) {
            s.execute("LISTEN " + QueueSql.CHANNEL);
            s.execute("LISTEN " + PROBE_CHANNEL);
        }
        listening.countDown();
        PGConnection pg = c.unwrap(PGConnection.class);
        lastProbeAt = System.nanoTime() - probeEveryNanos; // probe at once on every (re)connect
        while (!closed) {
            PGNotification[] received = pg.getNotifications(WAIT_MILLIS);
            if (received != null) {
                for (PGNotification n : received) {
                    if (PROBE_CHANNEL.equals(n.getName())) {
                        probeReturned(n.getParameter());
                    } else {
                        wakeups.jobsAvailable(n.getParameter());
                    }
                }
            }
            checkProbe();
        }
        // Closed: the connection goes back to its pool, where a LISTEN nobody reads would buffer
        // notifications in the driver without bound (and hold back the server's queue).
        try (Statement s = c.createStatement()) {
            s.execute("UNLISTEN *");
        }
    }

    private void probeReturned(String probe) {
        if (probe.equals(pendingProbe)) {
            pendingProbe = null;
            if (missing) {
                missing = false;
                log.info("queue notifications: arriving again");
                wakeups.notificationsRestored();
            }
        }
    }

    private void checkProbe() {
        long now = System.nanoTime();
        if (pendingProbe != null && now - probeSentAt >= probeWaitNanos) {
            pendingProbe = null;
            missing = true;
            String why = "a probe NOTIFY did not come back within " + TimeUnit.NANOSECONDS.toMillis(probeWaitNanos)
                    + " ms (LISTEN behind a transaction-mode pooler?)";
            log.warn("queue notifications: {}; workers rely on polling", why);
            wakeups.notificationsMissing(why);
        }
        if (pendingProbe == null && now - lastProbeAt >= probeEveryNanos) {
            String probe = UUID.randomUUID().toString();
            lastProbeAt = now;
            try (Connection c = dataSource.getConnection();
                    PreparedStatement ps = c.prepareStatement("SELECT pg_notify('" + PROBE_CHANNEL + "', ?)")) {
                if (!c.getAutoCommit()) {
                    c.setAutoCommit(true);
                }
                ps.setString(1, probe);
                ps.execute();
                pendingProbe = probe;
                probeSentAt = System.nanoTime();
            } catch (SQLException e) {
                log.debug("queue notifications: probe not sent", e);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            thread.join(TimeUnit.SECONDS.toMillis(2));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
