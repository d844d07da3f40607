package dev.headroom.db.internal;

/**
 * The primary's position over time, sampled once per probe round, from which a replica's lag in
 * time follows: a replica that has replayed position {@code R} has everything the primary had
 * committed when it was last seen at or before {@code R}, so its view is at most {@code now - t}
 * old, where {@code t} is the time of the latest sample at or before {@code R}.
 *
 * <p>This measures staleness, not activity: a quiet primary (no new WAL) leaves a caught-up replica
 * at zero lag however old its last transaction, a long write transaction on a quiet primary moves
 * the primary's position and the replica's replay together, and a replica cut off from the primary
 * falls behind as soon as the primary writes. A sample is taken <i>before</i> the primary is asked
 * (its position covers every commit before that time), so lag is never underestimated by the
 * sampling; it may be overestimated by up to one probe interval.
 *
 * <p>Samples with the same position collapse into one that keeps the first and the last time the
 * primary was seen there (an idle primary adds nothing); the history is bounded, and keeps at least
 * {@code span} of time so that a replica behind every kept sample is known to be more than {@code
 * span} behind. Written by one probe round at a time
 * (callers serialize {@link #record}); read by probe tasks: all methods are synchronized, and cheap.
 */
public final class PrimaryHistory {
    private final long spanNanos;
    private final long[] positions;
    private final long[] firstSeen;
    private final long[] lastSeen;
    private int start; // index of the oldest sample
    private int size;

    /**
     * @param span how much history to keep at least (the largest lag that must be measured)
     * @param capacity the most samples kept; older ones are dropped beyond it even if younger than
     *     {@code span} (then lag beyond the oldest kept sample is reported as that sample's age)
     */
    public PrimaryHistory(java.time.Duration span, int capacity) {
        if (capacity < 2) {
            throw new IllegalArgumentException("capacity must be >= 2, got " + capacity);
        }
        this.spanNanos = span.toNanos();
        this.positions = new long[capacity];
        this.firstSeen = new long[capacity];
        this.lastSeen = new long[capacity];
    }

    /**
     * Records one sample: the primary's position read by a query sent at ticker time {@code
     * askedAt} and answered at {@code answeredAt}. So every commit before {@code askedAt} is at or
     * before {@code position}, and the primary had reached {@code position} by {@code answeredAt}.
     * Positions and times must not go backwards; a position lower than the latest (a new primary
     * after a failover, a rebuilt cluster) clears the history.
     */
    public synchronized void record(long position, long askedAt, long answeredAt) {
        if (size > 0) {
            int last = index(size - 1);
            if (position == positions[last]) {
                lastSeen[last] = askedAt; // still there
                trim(answeredAt);
                return;
            }
            if (position < positions[last]) {
                size = 0;
                start = 0;
            }
        }
        if (size == positions.length) {
            start = (start + 1) % positions.length;
            size--;
        }
        int at = index(size);
        positions[at] = position;
        firstSeen[at] = answeredAt;
        lastSeen[at] = askedAt;
        size++;
        trim(answeredAt);
    }

    /** Drops samples older than the span, keeping one at or beyond it (it bounds the lag). */
    private void trim(long now) {
        while (size > 1 && now - firstSeen[index(1)] >= spanNanos) {
            start = (start + 1) % positions.length;
            size--;
        }
    }

    /**
     * The age of a replica's view at {@code now}: {@code now} minus the last time the primary was seen
     * at or before {@code replayed} (an upper bound: it moved past that position some time after).
     *
     * @return the lag in nanoseconds, and whether it is bounded from above ({@code known}); when the
     *     replica is behind every kept sample, the lag is only known to exceed the returned value
     *     (the time since the primary was first seen past it); 0 and not known before any sample
     */
    public synchronized Lag lag(long replayed, long now) {
        if (size == 0) {
            return new Lag(0, false);
        }
        for (int i = size - 1; i >= 0; i--) {
            int at = index(i);
            if (positions[at] <= replayed) {
                return new Lag(Math.max(0, now - lastSeen[at]), true);
            }
        }
        return new Lag(Math.max(0, now - firstSeen[index(0)]), false);
    }

    /** The latest sampled position, or -1 if none. */
    public synchronized long latest() {
        return size == 0 ? -1 : positions[index(size - 1)];
    }

    /** How many samples are kept (tests). */
    synchronized int size() {
        return size;
    }

    private int index(int i) {
        return (start + i) % positions.length;
    }

    /**
     * A replica's lag in time.
     *
     * @param nanos the lag, or its lower bound when not {@code known}
     * @param known false when the replica is behind every kept sample (or none was taken yet): then
     *     {@code nanos} is a lower bound
     */
    public record Lag(long nanos, boolean known) {}
}
