package dev.headroom.queue;

import java.util.Objects;

/**
 * What a store did with an enqueue. Immutable.
 *
 * @param id the new job, or the job that already held the idempotency key
 * @param outcome whether a job was created
 */
public record EnqueueResult(JobId id, Outcome outcome) {

    /** Whether the enqueue created a job. */
    public enum Outcome {
        /** A new job was created. */
        CREATED,
        /** The idempotency key was taken by a job with the same type and payload; nothing was created. */
        DUPLICATE,
        /** The idempotency key was taken by a job with another type or payload; nothing was created. */
        DUPLICATE_DIFFERENT_PAYLOAD
    }

    /**
     * Checks the fields.
     *
     * @throws NullPointerException if a field is null
     */
    public EnqueueResult {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(outcome, "outcome");
    }

    /** Returns whether a new job was created. */
    public boolean created() {
        return outcome == Outcome.CREATED;
    }
}
