package dev.headroom.queue;

import java.time.Instant;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Selects dead letters for {@link DeadLetters#list}, {@link DeadLetters#replay} and {@link
 * DeadLetters#purge}. Every field left null matches everything; set fields must all match.
 * Immutable; start from {@link #all()} and narrow with the {@code with...} methods.
 *
 * @param type exact job type, or null
 * @param queue exact queue, or null
 * @param deadFrom dead at or after this time, or null
 * @param deadBefore dead strictly before this time, or null
 * @param errorContains a substring (case-sensitive) of any message in the error history, or null
 */
public record DeadLetterFilter(
        @Nullable String type,
        @Nullable String queue,
        @Nullable Instant deadFrom,
        @Nullable Instant deadBefore,
        @Nullable String errorContains) {

    private static final DeadLetterFilter ALL = new DeadLetterFilter(null, null, null, null, null);

    /**
     * Returns the filter that matches every dead letter.
     *
     * @return the filter, a singleton
     */
    public static DeadLetterFilter all() {
        return ALL;
    }

    /**
     * Returns this filter narrowed to one job type.
     *
     * @param type the type
     * @return a new filter
     */
    public DeadLetterFilter withType(String type) {
        return new DeadLetterFilter(Objects.requireNonNull(type, "type"), queue, deadFrom, deadBefore, errorContains);
    }

    /**
     * Returns this filter narrowed to one queue.
     *
     * @param queue the queue
     * @return a new filter
     */
    public DeadLetterFilter withQueue(String queue) {
        return new DeadLetterFilter(type, Objects.requireNonNull(queue, "queue"), deadFrom, deadBefore, errorContains);
    }

    /**
     * Returns this filter narrowed to letters that died in {@code [from, before)}.
     *
     * @param from inclusive start
     * @param before exclusive end
     * @return a new filter
     */
    public DeadLetterFilter withDeadBetween(Instant from, Instant before) {
        return new DeadLetterFilter(
                type,
                queue,
                Objects.requireNonNull(from, "from"),
                Objects.requireNonNull(before, "before"),
                errorContains);
    }

    /**
     * Returns this filter narrowed to letters with an error message containing {@code text}.
     *
     * @param text the substring, case-sensitive
     * @return a new filter
     */
    public DeadLetterFilter withErrorContaining(String text) {
        return new DeadLetterFilter(type, queue, deadFrom, deadBefore, Objects.requireNonNull(text, "text"));
    }
}
