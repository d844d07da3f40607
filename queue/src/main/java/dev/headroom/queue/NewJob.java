package dev.headroom.queue;

import java.time.Instant;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A job as handed to {@link JobStore#enqueue(NewJob)}: validated, so a store never sees a blank
 * type, a blank queue or fewer than one attempt. The payload array is not copied; neither side may
 * modify it after handing it over. Immutable.
 *
 * @param type the job type, non-blank, at most 255 characters, no NUL character or unpaired surrogate
 * @param payload the payload bytes
 * @param queue the queue, non-blank, at most 255 characters, no NUL character or unpaired surrogate
 * @param priority lower is claimed first, in {@code [-32768, 32767]}
 * @param runAt the earliest claim time (years 1 to 9999), or null for the store's "now"
 * @param maxAttempts at least 1
 * @param idempotencyKey the key, or null for none
 */
public record NewJob(
        String type,
        byte[] payload,
        String queue,
        int priority,
        @Nullable Instant runAt,
        int maxAttempts,
        @Nullable String idempotencyKey) {

    /**
     * Checks every field.
     *
     * @throws NullPointerException naming a null field
     * @throws IllegalArgumentException naming a blank, too long or out-of-range field
     */
    public NewJob {
        checkName("type", type);
        Objects.requireNonNull(payload, "payload");
        checkName("queue", queue);
        checkPriority(priority);
        if (runAt != null) {
            checkRunAt(runAt);
        }
        checkMaxAttempts(maxAttempts);
        if (idempotencyKey != null) {
            checkName("idempotencyKey", idempotencyKey);
        }
    }

    /**
     * Builds a job from options.
     *
     * @param type the job type
     * @param payload the payload
     * @param options the options
     * @return the job
     */
    public static NewJob of(String type, byte[] payload, EnqueueOptions options) {
        return new NewJob(
                type,
                payload,
                options.queue(),
                options.priority(),
                options.runAt(),
                options.maxAttempts(),
                options.idempotencyKey());
    }

    static String checkName(String field, String value) {
        Objects.requireNonNull(value, field);
        if (value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (value.length() > EnqueueOptions.MAX_NAME_LENGTH) {
            throw new IllegalArgumentException(field + " must be at most " + EnqueueOptions.MAX_NAME_LENGTH
                    + " characters, got " + value.length());
        }
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(field + " must not contain a NUL character (PostgreSQL text cannot"
                    + " hold one), at index " + value.indexOf('\0'));
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (Character.isHighSurrogate(c)
                    && i + 1 < value.length()
                    && Character.isLowSurrogate(value.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(field + " holds an unpaired surrogate at index " + i
                        + " (not encodable as UTF-8: two such values would be stored alike)");
            }
        }
        return value;
    }

    static int checkPriority(int priority) {
        if (priority < Short.MIN_VALUE || priority > Short.MAX_VALUE) {
            throw new IllegalArgumentException("priority must be in [-32768, 32767], got " + priority);
        }
        return priority;
    }

    /** Earliest run-at taken: 0001-01-01T00:00:00Z. */
    static final Instant MIN_RUN_AT = Instant.parse("0001-01-01T00:00:00Z");
    /** Latest run-at taken: 9999-12-31T23:59:59Z. */
    static final Instant MAX_RUN_AT = Instant.parse("9999-12-31T23:59:59Z");

    static Instant checkRunAt(Instant runAt) {
        Objects.requireNonNull(runAt, "runAt");
        if (runAt.isBefore(MIN_RUN_AT) || runAt.isAfter(MAX_RUN_AT)) {
            throw new IllegalArgumentException("runAt must be within the years 1 to 9999, got " + runAt);
        }
        return runAt;
    }

    static int checkMaxAttempts(int maxAttempts) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
        }
        return maxAttempts;
    }

    @Override
    public String toString() {
        return "NewJob[type=" + type + ", queue=" + queue + ", payload=" + payload.length + " bytes, priority="
                + priority + ", runAt=" + runAt + ", maxAttempts=" + maxAttempts + ", idempotencyKey="
                + idempotencyKey + "]";
    }
}
