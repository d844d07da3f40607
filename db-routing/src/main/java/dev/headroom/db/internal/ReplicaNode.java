package dev.headroom.db.internal;

import dev.headroom.db.ReplicaInfo;
import io.micrometer.core.instrument.Counter;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * One replica's health as the router sees it. State changes are synchronized (probe thread and
 * read-path failures); the read path only reads volatile fields.
 */
public final class ReplicaNode implements ReplicaInfo {

    /** Why a replica is not serving. */
    public enum Ejection {
        LAG("lag"),
        UNREACHABLE("unreachable"),
        NOT_REPLICA("not_replica"),
        /** Not probed yet: a replica starts here and serves once a probe finds it within bounds. */
        UNPROBED("unprobed");

        public final String tag;

        Ejection(String tag) {
            this.tag = tag;
        }
    }

    private final String name;
    private final DataSource dataSource;
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile long lagBytes;
    private volatile long lagNanos;
    private volatile long replayPosition = -1;
    private volatile boolean receiving;
    private volatile boolean lagKnown;
    private volatile long measuredAt;
    private volatile @Nullable Ejection ejection = Ejection.UNPROBED;
    private int goodProbes;
    public final Counter routed;

    public ReplicaNode(String name, DataSource dataSource, Counter routed) {
        this.name = name;
        this.dataSource = dataSource;
        this.routed = routed;
    }

    @Override
    public String name() {
        return name;
    }

    public DataSource dataSource() {
        return dataSource;
    }

    @Override
    public long lagBytes() {
        return lagBytes;
    }

    @Override
    public Duration lagTime() {
        return Duration.ofNanos(lagNanos);
    }

    public long lagNanos() {
        return lagNanos;
    }

    @Override
    public int inFlight() {
        return inFlight.get();
    }

    public AtomicInteger inFlightCounter() {
        return inFlight;
    }

    /** The last replayed position seen by a probe or a token check; -1 if none yet. */
    public long replayPosition() {
        return replayPosition;
    }

    /** Records a replay position seen on the read path (token checks); never moves it backwards. */
    public void observeReplay(long position) {
        if (position > replayPosition) {
            replayPosition = position;
        }
    }

    @Override
    public boolean receiving() {
        return receiving;
    }

    public @Nullable Ejection ejection() {
        return ejection;
    }

    public boolean serving() {
        return ejection == null;
    }

    /**
     * What one probe round measured on a replica.
     *
     * @param replayPosition its replay position
     * @param bytes WAL bytes behind the primary's latest sampled position
     * @param nanos its lag in time; a lower bound when not {@code known}
     * @param known whether {@code nanos} is an upper bound too (false when the replica is behind every
     *     sample of the primary the router has)
     * @param receiving whether its link to the primary is up
     * @param at the ticker time of the replica's answer
     */
    public record Measurement(long replayPosition, long bytes, long nanos, boolean known, boolean receiving, long at) {
        public Measurement(long replayPosition, long bytes, long nanos, boolean known, boolean receiving) {
            this(replayPosition, bytes, nanos, known, receiving, 0);
        }
    }

    /**
     * Whether this replica may serve a read that accepts data {@code budgetNanos} old at ticker time
     * {@code now}: it serves or was ejected for lag only (not unreachable, not a non-replica), its
     * last probe bounded its lag, and that lag plus the time since that probe is within the budget
     * (a replica that stopped replaying right after its probe is that much older now).
     */
    public boolean within(long budgetNanos, long now) {
        Ejection e = ejection;
        return (e == null || e == Ejection.LAG) && lagKnown && lagNanos + Math.max(0, now - measuredAt) <= budgetNanos;
    }

    /**
     * Applies one probe result. Ejects when a bound is passed (a lag only known to exceed a value
     * counts once that value does); admits a new replica, and re-admits an ejected one after {@code
     * readmitProbes} consecutive probes, only on a measurement known to be within half of each bound
     * (hysteresis).
     *
     * @return the transition made: an ejection reason, {@code ADMITTED}, {@code READMITTED}, or null
     */
    public synchronized @Nullable Object onProbe(Measurement m, long maxBytes, long maxNanos, int readmitProbes) {
        measuredAt = m.at();
        lagKnown = m.known();
        lagBytes = m.bytes();
        lagNanos = m.nanos();
        receiving = m.receiving();
        replayPosition = m.replayPosition(); // a probe is authoritative (the replica may have been rebuilt)
        boolean over = m.bytes() > maxBytes || m.nanos() > maxNanos;
        boolean wellWithin = m.known() && m.bytes() <= maxBytes / 2 && m.nanos() <= maxNanos / 2;
        if (ejection == Ejection.UNPROBED) {
            if (over) {
                ejection = Ejection.LAG;
                return Ejection.LAG;
            }
            if (!m.known()) {
                return null; // not yet known to be within bounds: the next round decides
            }
            ejection = null;
            return ADMITTED;
        }
        if (ejection == null) {
            if (over) {
                ejection = Ejection.LAG;
                goodProbes = 0;
                return Ejection.LAG;
            }
            return null;
        }
        goodProbes = wellWithin ? goodProbes + 1 : 0;
        if (goodProbes >= readmitProbes) {
            ejection = null;
            goodProbes = 0;
            return READMITTED;
        }
        return null;
    }

    /** Marks the replica failed (probe or read path). @return true if it was serving until now */
    public synchronized boolean eject(Ejection why) {
        goodProbes = 0;
        boolean wasServing = ejection == null;
        if (why != Ejection.LAG || ejection == null) {
            ejection = why;
        }
        return wasServing;
    }

    /** Marker returned by {@link #onProbe} for a re-admission. */
    public static final Object READMITTED = new Object();

    /** Marker returned by {@link #onProbe} when a replica's first probe finds it within bounds. */
    public static final Object ADMITTED = new Object();

    @Override
    public String toString() {
        Ejection e = ejection;
        return name + (e == null ? " (serving" : " (ejected: " + e.tag) + ", lag " + lagBytes + " B / "
                + Duration.ofNanos(lagNanos).toMillis() + " ms, in flight " + inFlight.get() + ")";
    }
}
