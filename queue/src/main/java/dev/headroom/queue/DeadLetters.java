package dev.headroom.queue;

import java.util.List;

/**
 * The dead letters of a store: jobs that used up their attempts, kept with their error history
 * until replayed or purged. Implementations are thread-safe.
 */
public interface DeadLetters {

    /**
     * Lists matching dead letters, oldest death first.
     *
     * @param filter which letters
     * @param limit the most to return, at least 1
     * @return the letters with their error histories
     * @throws IllegalArgumentException if {@code limit < 1}
     * @throws JobStoreException if the store fails
     */
    List<DeadLetter> list(DeadLetterFilter filter, int limit);

    /**
     * Moves every matching dead letter back to its queue as an available job, due at once, with its
     * attempts reset to 0 and its id, payload, key and error history kept. Atomic: a letter is either
     * replayed exactly once or left where it was; one replayed concurrently by two callers is
     * replayed by one of them.
     *
     * @param filter which letters
     * @return how many were replayed
     * @throws JobStoreException if the store fails (then none were replayed)
     */
    int replay(DeadLetterFilter filter);

    /**
     * Deletes every matching dead letter and its error history. Idempotency keys they held stay
     * taken.
     *
     * @param filter which letters
     * @return how many were deleted
     * @throws JobStoreException if the store fails (then none were deleted)
     */
    int purge(DeadLetterFilter filter);
}
