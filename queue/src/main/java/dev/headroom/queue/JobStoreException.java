package dev.headroom.queue;

/**
 * The store could not carry out an operation (the database refused or was unreachable). The
 * operation had no effect unless the message says otherwise: every store operation is one
 * transaction. Retrying is safe for {@code enqueue} with an idempotency key, {@code complete},
 * {@code fail} and {@code heartbeat} (a repeat after a lost reply is refused as stale or finds
 * the key taken).
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
