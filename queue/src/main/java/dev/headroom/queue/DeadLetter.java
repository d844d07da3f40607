package dev.headroom.queue;

import java.time.Instant;
import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A job that used up its attempts (or was failed permanently), as held in the dead letters.
 * Immutable apart from the payload array.
 *
 * @param id the job; replay keeps it
 * @param type the job type
 * @param queue the queue
 * @param payload the payload bytes
 * @param priority the priority
 * @param attempts how many attempts were made
 * @param maxAttempts the attempts allowed
 * @param idempotencyKey the key it was enqueued with, or null
 * @param enqueuedAt when it was first enqueued, by the store's clock
 * @param deadAt when it became a dead letter, by the store's clock
 * @param errors its error history, oldest first
 */
public record DeadLetter(
        JobId id,
        String type,
        String queue,
        byte[] payload,
        int priority,
        int attempts,
        int maxAttempts,
        @Nullable String idempotencyKey,
        Instant enqueuedAt,
        Instant deadAt,
        List<JobError> errors) {

    /**
     * Checks the fields and copies the error list.
     *
     * @throws NullPointerException if a field other than the key is null
     */
    public DeadLetter {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(queue, "queue");
        Objects.requireNonNull(payload, "payload");
        Objects.requireNonNull(enqueuedAt, "enqueuedAt");
        Objects.requireNonNull(deadAt, "deadAt");
        errors = List.copyOf(errors);
    }

    @Override
    public String toString() {
        return "DeadLetter[" + id + ", type=" + type + ", queue=" + queue + ", attempts=" + attempts + "/" + maxAttempts
                + ", deadAt=" + deadAt + ", errors=" + errors.size() + "]";
    }
}
