package dev.headroom.queue;

import java.util.Objects;

/**
 * An enqueue under {@link DuplicatePolicy#REJECT_DIFFERENT_PAYLOAD} found its idempotency key taken
 * by a job with a different type or payload. Nothing was enqueued.
 */
public class DuplicateJobException extends QueueException {
    private static final long serialVersionUID = 1L;

    private final JobId existing;
    private final String idempotencyKey;

    /**
     * Creates the exception.
     *
     * @param idempotencyKey the key
     * @param existing the job that holds the key
     */
    public DuplicateJobException(String idempotencyKey, JobId existing) {
        super("idempotency key '" + idempotencyKey + "' is taken by " + existing + " with a different type or payload");
        this.existing = Objects.requireNonNull(existing, "existing");
        this.idempotencyKey = idempotencyKey;
    }

    /** Returns the job that holds the key. */
    public JobId existingJob() {
        return existing;
    }

    /** Returns the key. */
    public String idempotencyKey() {
        return idempotencyKey;
    }
}
