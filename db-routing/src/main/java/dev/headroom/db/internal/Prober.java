package dev.headroom.db.internal;

import dev.headroom.core.Ticker;
import dev.headroom.db.LagProbe;
import dev.headroom.db.ReplicaStatus;
import dev.headroom.db.internal.ReplicaNode.Ejection;
import dev.headroom.db.internal.ReplicaNode.Measurement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * One probe round: the primary and every replica asked at once, each on its own {@link
 * ProbeConnection} and thread, each bounded by the probe timeout; then every replica measured
 * against the primary's sampled history ({@link PrimaryHistory}). A server whose previous probe is
 * still running (hung past its timeout) is not asked again, and counts as failed, until that probe
 * ends. A probe that times out counts as a failure only when it is the second in a row for that
 * server (one slow answer on a busy machine ejects nothing); a probe that fails outright (refused,
 * reset, not a replica) counts at once.
 *
 * <p>While the primary cannot be asked, replicas are still probed: one that has replayed the
 * primary's last sampled position and everything it received is measured at zero lag (nothing newer
 * is known to exist); one behind either ages from the last sample (a primary that still feeds it is
 * alive and writing, only unreachable from here). So replicas keep serving through a primary crash,
 * and lag bounds apply again from the primary's next answer.
 *
 * <p>Rounds are serialized by the caller.
 */
public final class Prober implements AutoCloseable {

    /** What a round found; called on the round's thread, in replica order, before {@link #roundDone}. */
    public interface Listener {
        /** The primary answered ({@code cause} null) or did not. */
        void primary(@Nullable Exception cause);

        void measured(ReplicaNode node, Measurement m);

        void failed(ReplicaNode node, Ejection why, Exception cause);

        void roundDone();
    }

    private record Answer(ReplicaStatus status, long at) {}

    /** A probe that did not answer within the probe timeout. */
    static final class ProbeTimeoutException extends SQLException {
        private static final long serialVersionUID = 1L;

        ProbeTimeoutException(long timeoutMillis) {
            super("no answer within the probe timeout of " + timeoutMillis + " ms, twice in a row", "08006");
        }
    }

    /** Consecutive timed-out probes per server: index 0 the primary, then the replicas in order. */
    private final int[] timeouts;

    private final LagProbe probe;
    private final Ticker ticker;
    private final ProbeConnection primary;
    private final List<ReplicaNode> nodes;
    private final List<ProbeConnection> replicas;
    private final long timeoutNanos;
    private final PrimaryHistory history;
    private final Listener listener;
    private final ExecutorService workers;
    private @Nullable Future<long[]> primaryRunning;
    private final Map<ReplicaNode, Future<Answer>> replicaRunning = new IdentityHashMap<>();

    public Prober(
            String router,
            LagProbe probe,
            Ticker ticker,
            ProbeConnection primary,
            List<ReplicaNode> nodes,
            List<ProbeConnection> replicas,
            Duration timeout,
            PrimaryHistory history,
            Listener listener) {
        this.probe = probe;
        this.ticker = ticker;
        this.primary = primary;
        this.nodes = List.copyOf(nodes);
        this.replicas = List.copyOf(replicas);
        this.timeoutNanos = timeout.toNanos();
        this.history = history;
        this.listener = listener;
        this.timeouts = new int[nodes.size() + 1];
        this.workers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "headroom-db-probe-" + router + "-worker");
            t.setDaemon(true);
            return t;
        });
    }

    public PrimaryHistory history() {
        return history;
    }

    /**
     * Runs one round on the calling thread (the probes themselves on worker threads); does nothing
     * once closed, and stops without reporting when interrupted.
     */
    public void round() {
        try {
            ask();
        } catch (java.util.concurrent.RejectedExecutionException | Interrupted e) {
            // closed meanwhile
        }
    }

    /** The round was interrupted (the router is closing): nothing is reported. */
    private static final class Interrupted extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Interrupted() {
            super(null, null, false, false);
        }
    }

    private void ask() {
        if (workers.isShutdown()) {
            return;
        }
        long deadline = System.nanoTime() + timeoutNanos;
        Future<long[]> p = primaryRunning;
        if (p == null || p.isDone()) {
            p = workers.submit(() -> {
                long before = ticker.read();
                long position = primary.use(probe::primaryPosition);
                return new long[] {position, before, ticker.read()};
            });
            primaryRunning = p;
        }
        List<Future<Answer>> asked = new ArrayList<>(nodes.size());
        for (int i = 0; i < nodes.size(); i++) {
            ReplicaNode node = nodes.get(i);
            Future<Answer> f = replicaRunning.get(node);
            if (f == null || f.isDone()) {
                ProbeConnection c = replicas.get(i);
                f = workers.submit(() -> {
                    ReplicaStatus s = c.use(probe::replicaStatus);
                    return new Answer(s, ticker.read());
                });
                replicaRunning.put(node, f);
            }
            asked.add(f);
        }
        boolean primaryAnswered = false;
        try {
            long[] sample = await(p, deadline, 0);
            history.record(sample[0], sample[1], sample[2]);
            primaryAnswered = true;
            listener.primary(null);
        } catch (FirstTimeout e) {
            // one slow answer: neither up nor down this round
        } catch (Interrupted e) {
            throw e;
        } catch (Exception e) {
            listener.primary(e);
        }
        for (int i = 0; i < nodes.size(); i++) {
            ReplicaNode node = nodes.get(i);
            Answer a;
            try {
                a = await(asked.get(i), deadline, i + 1);
            } catch (FirstTimeout e) {
                continue;
            } catch (Interrupted e) {
                throw e;
            } catch (LagProbe.NotAReplicaException e) {
                listener.failed(node, Ejection.NOT_REPLICA, e);
                continue;
            } catch (Exception e) {
                listener.failed(node, Ejection.UNREACHABLE, e);
                continue;
            }
            listener.measured(node, measure(a, primaryAnswered));
        }
        listener.roundDone();
    }

    /** A server's first timed-out probe in a row: not yet a failure. */
    private static final class FirstTimeout extends Exception {
        private static final long serialVersionUID = 1L;

        FirstTimeout() {
            super(null, null, false, false);
        }
    }

    private Measurement measure(Answer a, boolean primaryAnswered) {
        long replayed = a.status().replayPosition();
        long latest = history.latest();
        long bytes = latest < 0 ? 0 : Math.max(0, latest - replayed);
        PrimaryHistory.Lag lag;
        if (!primaryAnswered && replayed >= latest && !a.status().behindWhatItReceived()) {
            // The primary did not answer: its position now is unknown. A replica that has replayed
            // everything it received and all the primary was last seen with has all there is to
            // know of (a dead primary's last writes included). One holding WAL it has not replayed
            // is behind a primary that is alive: it ages from the last sample like any other.
            lag = new PrimaryHistory.Lag(0, true);
        } else {
            lag = history.lag(replayed, a.at());
        }
        return new Measurement(
                replayed, bytes, lag.nanos(), lag.known(), a.status().receiving(), a.at());
    }

    /**
     * The future's value by the deadline; a failure or an interrupt as the exception, a timeout as
     * {@link FirstTimeout} the first time in a row for {@code server} and as {@link
     * ProbeTimeoutException} after.
     */
    private <T> T await(Future<T> f, long deadline, int server) throws Exception {
        try {
            T value = f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            timeouts[server] = 0;
            return value;
        } catch (ExecutionException e) {
            timeouts[server] = 0;
            Throwable cause = e.getCause();
            if (cause instanceof Exception ex) {
                throw ex;
            }
            throw e;
        } catch (TimeoutException e) {
            if (++timeouts[server] < 2) {
                throw new FirstTimeout();
            }
            ProbeTimeoutException timedOut = new ProbeTimeoutException(TimeUnit.NANOSECONDS.toMillis(timeoutNanos));
            timedOut.initCause(e);
            throw timedOut;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Interrupted();
        }
    }

    /** Stops the workers (interrupting probes in flight) and closes the probe connections. */
    @Override
    public void close() {
        workers.shutdownNow();
        primary.close();
        replicas.forEach(ProbeConnection::close);
    }
}
