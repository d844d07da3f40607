package dev.headroom.queue;

import java.time.Instant;
import java.util.Objects;

/**
 * One failed attempt in a job's error history. Immutable.
 *
 * @param attempt the attempt's number, 1 for the first
 * @param message what went wrong (the failure's message or stack trace)
 * @param worker the worker that held the lease
 * @param failedAt when the store recorded the failure, by its clock
 */
public record JobError(int attempt, String message, String worker, Instant failedAt) {

    /**
     * Checks the fields.
     *
     * @throws NullPointerException if a field is null
     */
    public JobError {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(worker, "worker");
        Objects.requireNonNull(failedAt, "failedAt");
    }
}
