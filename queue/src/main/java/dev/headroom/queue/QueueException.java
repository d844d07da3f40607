package dev.headroom.queue;

import dev.headroom.core.HeadroomException;

/** The root of the exceptions the queue throws on purpose. Unchecked. */
public class QueueException extends HeadroomException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message what went wrong
     */
    public QueueException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a cause.
     *
     * @param message what went wrong
     * @param cause the underlying failure
     */
    public QueueException(String message, Throwable cause) {
        super(message, cause);
    }
}
