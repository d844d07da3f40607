package dev.headroom.queue;

/** What a store did with a failed attempt. */
public enum FailOutcome {
    /** The job will be claimable again at the retry time; the error is in its history. */
    RETRY_SCHEDULED,
    /** The job moved to the dead letters with its error history. */
    DEAD_LETTERED,
    /**
     * Refused: the lease token is not the job's current one (the job was claimed again, completed,
     * or dead-lettered). Nothing changed.
     */
    STALE_LEASE
}
