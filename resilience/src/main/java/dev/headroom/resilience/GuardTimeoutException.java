package dev.headroom.resilience;

import dev.headroom.core.HeadroomException;
import java.time.Duration;

/**
 * A call through a {@link Guard} did not finish within its timeout: the guard's own timeout, or less
 * if the request's deadline left less. The dependency <em>was</em> called (unlike a {@link
 * GuardRejectedException}); the work was cancelled with an interrupt where that is possible. Counts
 * as a failure for the circuit breaker and the adaptive limit, and may be retried.
 *
 * <p>Unchecked, without a stack trace. Immutable and thread-safe.
 */
public final class GuardTimeoutException extends HeadroomException {
    private static final long serialVersionUID = 1L;

    private final String guard;
    private final Duration timeout;

    /**
     * Creates a timeout.
     *
     * @param guard the guard's name
     * @param timeout the timeout that passed
     */
    public GuardTimeoutException(String guard, Duration timeout) {
        super("guard '" + guard + "': call did not finish within " + timeout, null, false);
        this.guard = guard;
        this.timeout = timeout;
    }

    /** Returns the name of the guard. */
    public String guard() {
        return guard;
    }

    /** Returns the timeout the call ran out of. */
    public Duration timeout() {
        return timeout;
    }
}
