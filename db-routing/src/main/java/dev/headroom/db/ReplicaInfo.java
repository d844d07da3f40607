package dev.headroom.db;

import java.time.Duration;

/** What a {@link ReplicaSelector} may look at: one serving replica's latest probe and load. */
public interface ReplicaInfo {
    /** The name given to the builder. */
    String name();

    /** Bytes of WAL not yet replayed at the last probe; 0 before the first probe. */
    long lagBytes();

    /**
     * How old the replica's view was at the last probe: the time since the primary was last seen at
     * or before the replica's replay position (sampled once per probe round, so it may read up to one
     * probe interval high); zero before the first probe.
     */
    Duration lagTime();

    /** Whether the replica's link to the primary was up at the last probe (for PostgreSQL, its WAL receiver streaming). */
    boolean receiving();

    /** Physical connections to this replica currently handed out by the router. */
    int inFlight();
}
