package dev.headroom.queue;

import java.util.Objects;
import java.util.UUID;

/**
 * The proof that a worker holds a job's lease: every claim of a job issues a fresh token, and a
 * store accepts {@code complete}, {@code fail} and {@code heartbeat} only with the token of the
 * job's latest claim. A worker whose lease expired and whose job was claimed again holds a stale
 * token and can change nothing. Immutable.
 *
 * @param value a random UUID, unique per claim
 */
public record LeaseToken(UUID value) {

    /**
     * Checks the value.
     *
     * @throws NullPointerException if {@code value} is null
     */
    public LeaseToken {
        Objects.requireNonNull(value, "value");
    }
}
