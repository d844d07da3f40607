package dev.headroom.resilience;

/**
 * Why a {@link Guard} refused to start a call. Every reason means the dependency was <em>not</em>
 * called for it; callers typically answer 503 (or 429 for {@link #THROTTLED}) with the exception's
 * {@link GuardRejectedException#retryAfter() retry-after}. Thread-safe, as every enum.
 */
public enum RejectionReason {
    /** Every slot of the guard's concurrency limit is taken. */
    BULKHEAD_FULL,
    /**
     * Capacity remains, but it is kept for more critical work: the call's {@link
     * dev.headroom.core.Criticality} is shed first as the guard nears its limit.
     */
    SHED,
    /** The circuit breaker is open (or half-open with its trial calls taken). */
    CIRCUIT_OPEN,
    /**
     * The request's deadline leaves less time than the guard's minimum: the call could not finish in
     * time, so it is not started.
     */
    DEADLINE,
    /**
     * The client-side adaptive throttle (Google SRE) refused the call: recently the dependency accepted
     * too few of the calls sent to it.
     */
    THROTTLED
}
