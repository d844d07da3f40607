package dev.headroom.core;

import org.jspecify.annotations.Nullable;

/**
 * The root of every exception Headroom throws on purpose. Unchecked; each module has a small
 * hierarchy under it carrying the data a caller needs to react.
 */
public class HeadroomException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what went wrong, naming the component and the value at fault
     */
    public HeadroomException(String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and a cause.
     *
     * @param message what went wrong, naming the component and the value at fault
     * @param cause the underlying failure
     */
    public HeadroomException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * For rejections thrown on hot paths, where a stack trace costs more than it tells.
     *
     * @param message what went wrong
     * @param cause the underlying failure, or null
     * @param writableStackTrace whether to capture the stack trace
     */
    protected HeadroomException(String message, @Nullable Throwable cause, boolean writableStackTrace) {
        super(message, cause, false, writableStackTrace);
    }
}
