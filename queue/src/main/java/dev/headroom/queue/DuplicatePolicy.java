package dev.headroom.queue;

/**
 * What {@link JobQueue#enqueue} does when the idempotency key is already taken by a job whose
 * payload differs. A duplicate key with the same type and payload always returns the existing job.
 */
public enum DuplicatePolicy {
    /** Return the existing job's id; the new payload is dropped. The default. */
    RETURN_EXISTING,
    /** Throw {@link DuplicateJobException} carrying the existing job's id. */
    REJECT_DIFFERENT_PAYLOAD
}
