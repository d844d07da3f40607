package dev.headroom.db;

import java.time.Duration;

/** What a {@link ReplicaSelector} may look at: one serving replica's latest probe and load. */
public interface ReplicaInfo {
    /** The name given to the builder. */
    String name();

    /** Bytes of WAL not yet replayed at the last probe; 0 before the first probe. */
    long lagBytes();

    /** Replay lag in time at the last probe; zero before the first probe. */
    Duration lagTime();

    /** Physical connections to this replica currently handed out by the router. */
    int inFlight();
}
