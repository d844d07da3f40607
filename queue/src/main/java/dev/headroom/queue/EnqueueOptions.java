package dev.headroom.queue;

import java.time.Instant;
import org.jspecify.annotations.Nullable;

/**
 * How to enqueue one job: idempotency key, queue, priority, run-at time and attempt limit.
 * Immutable and thread-safe; build with {@link #builder()} or take {@link #defaults()}.
 *
 * <pre>{@code
 * EnqueueOptions options = EnqueueOptions.builder()
 *         .idempotencyKey("order-42-confirmation")
 *         .queue("email")
 *         .maxAttempts(8)
 *         .build();
 * }</pre>
 */
public final class EnqueueOptions {

    /** The queue a job goes to unless told otherwise: {@code "default"}. */
    public static final String DEFAULT_QUEUE = "default";
    /** Default total attempts, the first included: 5. */
    public static final int DEFAULT_MAX_ATTEMPTS = 5;
    /** The longest idempotency key or queue name accepted: 255 characters. */
    public static final int MAX_NAME_LENGTH = 255;

    private static final EnqueueOptions DEFAULTS = new Builder().build();

    private final @Nullable String idempotencyKey;
    private final String queue;
    private final int priority;
    private final @Nullable Instant runAt;
    private final int maxAttempts;

    private EnqueueOptions(Builder b) {
        this.idempotencyKey = b.idempotencyKey;
        this.queue = b.queue;
        this.priority = b.priority;
        this.runAt = b.runAt;
        this.maxAttempts = b.maxAttempts;
    }

    /**
     * Returns the defaults: no idempotency key, queue {@code "default"}, priority 0, run now, 5
     * attempts.
     *
     * @return the default options, a singleton
     */
    public static EnqueueOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Returns a builder starting from the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Returns the idempotency key, or null for none. */
    public @Nullable String idempotencyKey() {
        return idempotencyKey;
    }

    /** Returns the queue name. */
    public String queue() {
        return queue;
    }

    /** Returns the priority; lower runs first. */
    public int priority() {
        return priority;
    }

    /** Returns the earliest time the job may run, or null for "now, by the store's clock". */
    public @Nullable Instant runAt() {
        return runAt;
    }

    /** Returns the total number of attempts, the first included. */
    public int maxAttempts() {
        return maxAttempts;
    }

    /**
     * Returns a builder holding these options, to derive others from them.
     *
     * @return a new builder
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.idempotencyKey = idempotencyKey;
        b.queue = queue;
        b.priority = priority;
        b.runAt = runAt;
        b.maxAttempts = maxAttempts;
        return b;
    }

    @Override
    public String toString() {
        return "EnqueueOptions[idempotencyKey=" + idempotencyKey + ", queue=" + queue + ", priority=" + priority
                + ", runAt=" + runAt + ", maxAttempts=" + maxAttempts + "]";
    }

    /** Builds {@link EnqueueOptions}; each setter checks its argument at once. Not thread-safe. */
    public static final class Builder {
        private @Nullable String idempotencyKey;
        private String queue = DEFAULT_QUEUE;
        private int priority;
        private @Nullable Instant runAt;
        private int maxAttempts = DEFAULT_MAX_ATTEMPTS;

        private Builder() {}

        /**
         * Sets the idempotency key: while a job holds it, enqueueing with the same key returns that job
         * instead of creating another. Keys are unique across the whole store, not per queue or type.
         * Default: none.
         *
         * @param idempotencyKey a non-blank key of at most 255 characters
         * @return this builder
         * @throws IllegalArgumentException if the key is blank or too long
         */
        public Builder idempotencyKey(String idempotencyKey) {
            this.idempotencyKey = name("idempotencyKey", idempotencyKey);
            return this;
        }

        /**
         * Sets the queue. Default {@code "default"}.
         *
         * @param queue a non-blank name of at most 255 characters
         * @return this builder
         * @throws IllegalArgumentException if the name is blank or too long
         */
        public Builder queue(String queue) {
            this.queue = name("queue", queue);
            return this;
        }

        /**
         * Sets the priority: among jobs that are due, lower numbers are claimed first. Default 0.
         *
         * @param priority any value in {@code [-32768, 32767]}
         * @return this builder
         * @throws IllegalArgumentException if out of range
         */
        public Builder priority(int priority) {
            this.priority = NewJob.checkPriority(priority);
            return this;
        }

        /**
         * Sets the earliest time the job may be claimed. Default: at once.
         *
         * @param runAt the time
         * @return this builder
         */
        public Builder runAt(Instant runAt) {
            this.runAt = NewJob.checkRunAt(runAt);
            return this;
        }

        /**
         * Sets the total number of attempts, the first included; after the last failed attempt the
         * job becomes a dead letter. Default 5.
         *
         * @param maxAttempts at least 1
         * @return this builder
         * @throws IllegalArgumentException if {@code maxAttempts < 1}
         */
        public Builder maxAttempts(int maxAttempts) {
            this.maxAttempts = NewJob.checkMaxAttempts(maxAttempts);
            return this;
        }

        /**
         * Builds the options.
         *
         * @return the immutable options
         */
        public EnqueueOptions build() {
            return new EnqueueOptions(this);
        }

        private static String name(String field, String value) {
            return NewJob.checkName(field, value);
        }
    }
}
