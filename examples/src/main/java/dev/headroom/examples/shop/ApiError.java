package dev.headroom.examples.shop;

/**
 * A request the shop refuses, with the HTTP status and the message the client gets as {@code
 * {"status": ..., "error": "..."}}. No stack trace: it is an answer, not a fault.
 */
final class ApiError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    ApiError(int status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    int status() {
        return status;
    }
}
