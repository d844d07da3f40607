package dev.headroom.queue;

import java.time.Instant;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A job a worker holds a lease on. Only the holder of {@link #lease()} can complete, fail or extend
 * it, and only until another claim of the same job (after the lease expired) issues a newer token.
 * The payload array belongs to the worker. Immutable apart from the payload array.
 *
 * @param id the job
 * @param type the job type
 * @param queue the queue
 * @param payload the payload bytes
 * @param priority lower is claimed first
 * @param attempt this attempt's number, 1 for the first claim; counted at claim
 * @param maxAttempts the total attempts allowed
 * @param idempotencyKey the key it was enqueued with, or null
 * @param lease the token of this claim
 * @param leaseExpiresAt when the lease runs out by the store's clock unless extended
 * @param dueAt when the job became due to run (its run-at time, or its enqueue time), by the store's
 *     clock: the start of its enqueue-to-start latency
 */
public record ClaimedJob(
        JobId id,
        String type,
        String queue,
        byte[] payload,
        int priority,
        int attempt,
        int maxAttempts,
        @Nullable String idempotencyKey,
        LeaseToken lease,
        Instant leaseExpiresAt,
        Instant dueAt) {

    /**
     * Checks the fields.
     *
     * @throws NullPointerException if a field other than the key is null
     */
    public ClaimedJob {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(queue, "queue");
        Objects.requireNonNull(payload, "payload");
        Objects.requireNonNull(lease, "lease");
        Objects.requireNonNull(leaseExpiresAt, "leaseExpiresAt");
        Objects.requireNonNull(dueAt, "dueAt");
    }

    /** Returns whether a failure of this attempt makes the job a dead letter. */
    public boolean isLastAttempt() {
        return attempt >= maxAttempts;
    }

    @Override
    public String toString() {
        return "ClaimedJob[" + id + ", type=" + type + ", queue=" + queue + ", attempt=" + attempt + "/" + maxAttempts
                + ", lease=" + lease.value() + ", leaseExpiresAt=" + leaseExpiresAt + "]";
    }
}
