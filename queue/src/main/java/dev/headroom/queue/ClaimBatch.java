package dev.headroom.queue;

import java.util.List;

/**
 * What one {@link JobStore#claimBatch claim} did: the jobs it claimed, and how many jobs it moved to
 * the dead letters instead (expired leases on their last attempt, which a claim buries rather than
 * claims).
 *
 * @param jobs the claimed jobs, possibly none; an unmodifiable copy
 * @param deadLettered jobs the claim dead-lettered, zero or more
 */
public record ClaimBatch(List<ClaimedJob> jobs, int deadLettered) {

    /**
     * Checks and copies.
     *
     * @throws NullPointerException if {@code jobs} is or holds null
     * @throws IllegalArgumentException if {@code deadLettered} is negative
     */
    public ClaimBatch {
        jobs = List.copyOf(jobs);
        if (deadLettered < 0) {
            throw new IllegalArgumentException("deadLettered must be >= 0, got " + deadLettered);
        }
    }
}
