package dev.headroom.resilience;

import dev.headroom.core.Criticality;
import dev.headroom.core.HeadroomException;
import java.time.Duration;

/**
 * A {@link Guard} refused to call its dependency. Unchecked; carries the {@link #reason() reason},
 * the {@link #criticality() criticality} of the refused work and a {@link #retryAfter() suggested
 * retry-after}, so that a caller can answer 503 or 429 with a {@code Retry-After} header.
 *
 * <p>Thrown on the hot path of an overloaded guard, so it has no stack trace: the message names the
 * guard and the reason, which is what the caller needs. Immutable and thread-safe.
 */
public final class GuardRejectedException extends HeadroomException {
    private static final long serialVersionUID = 1L;

    private final String guard;
    private final RejectionReason reason;
    private final Criticality criticality;
    private final Duration retryAfter;

    /**
     * Creates a rejection.
     *
     * @param guard the guard's name
     * @param reason why
     * @param criticality the criticality of the refused work
     * @param retryAfter when trying again may succeed; zero if retrying cannot help
     */
    public GuardRejectedException(String guard, RejectionReason reason, Criticality criticality, Duration retryAfter) {
        super("guard '" + guard + "' rejected a " + criticality + " call: " + reason, null, false);
        this.guard = guard;
        this.reason = reason;
        this.criticality = criticality;
        this.retryAfter = retryAfter;
    }

    /** Returns the name of the guard that refused. */
    public String guard() {
        return guard;
    }

    /** Returns why the call was refused. */
    public RejectionReason reason() {
        return reason;
    }

    /** Returns the criticality of the refused call. */
    public Criticality criticality() {
        return criticality;
    }

    /**
     * Returns how long a caller should wait before trying again: the open-state wait for {@link
     * RejectionReason#CIRCUIT_OPEN}, zero for {@link RejectionReason#DEADLINE} (the request is out of
     * time; retrying it cannot help), the guard's configured hint otherwise.
     */
    public Duration retryAfter() {
        return retryAfter;
    }
}
