package dev.headroom.queue;

/**
 * The identity of a job, assigned by its {@link JobStore} at enqueue. A job keeps its id through
 * retries, dead-lettering and replay. Immutable.
 *
 * @param value the store's number for the job, positive
 */
public record JobId(long value) {

    /**
     * Checks the value.
     *
     * @throws IllegalArgumentException if {@code value < 1}
     */
    public JobId {
        if (value < 1) {
            throw new IllegalArgumentException("job id must be >= 1, got " + value);
        }
    }

    @Override
    public String toString() {
        return "job-" + value;
    }
}
