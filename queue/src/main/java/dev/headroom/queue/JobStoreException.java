package dev.headroom.queue;

/**
 * The store could not carry out an operation (the database refused or was unreachable). Every
 * store operation is one transaction, so it either took effect whole or not at all — but when the
 * connection broke after the commit was sent, the caller cannot tell which: an enqueue may have
 * created its job, a claim may have leased jobs the caller never saw (they run again after their
 * lease, with an attempt spent). Retrying is safe for {@code enqueue} with an idempotency key (a
 * repeat finds the key taken), {@code complete}, {@code fail} and {@code heartbeat} (a repeat is
 * refused as stale); an {@code enqueue} without a key may create a second job.
 */
public class JobStoreException extends QueueException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message what failed, naming the operation
     * @param cause the underlying failure
     */
    public JobStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
