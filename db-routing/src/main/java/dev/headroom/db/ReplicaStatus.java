package dev.headroom.db;

/**
 * What a {@link LagProbe} reads on a replica in one probe.
 *
 * @param replayPosition the last position the replica has replayed (for PostgreSQL, the LSN as a
 *     number); its reads see everything the primary had committed up to it
 * @param receivePosition the last position it has received from its primary, or -1 if unknown (for
 *     PostgreSQL after a restart this may be the start of a WAL segment, below the replay position)
 * @param receiving whether the replica's link to its primary is up (for PostgreSQL, a WAL receiver
 *     in state {@code streaming})
 */
public record ReplicaStatus(long replayPosition, long receivePosition, boolean receiving) {
    /** Whether it has received anything it has not replayed yet. */
    public boolean behindWhatItReceived() {
        return receivePosition > replayPosition;
    }
}
