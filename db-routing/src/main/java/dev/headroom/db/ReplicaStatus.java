package dev.headroom.db;

/**
 * What a {@link LagProbe} reads on a replica in one probe.
 *
 * @param replayPosition the last position the replica has replayed (for PostgreSQL, the LSN as a
 *     number); its reads see everything the primary had committed up to it
 * @param receiving whether the replica's link to its primary is up (for PostgreSQL, a WAL receiver
 *     in state {@code streaming}); informational: the router measures staleness against the primary's
 *     own position, so a replica cut off from a primary that writes nothing is not stale
 */
public record ReplicaStatus(long replayPosition, boolean receiving) {}
