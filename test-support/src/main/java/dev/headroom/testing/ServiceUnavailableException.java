package dev.headroom.testing;

/**
 * A service a test needs could not be found. The message names the service, where it was looked
 * for, and the command that starts it.
 */
public final class ServiceUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    ServiceUnavailableException(String message) {
        super(message);
    }
}
