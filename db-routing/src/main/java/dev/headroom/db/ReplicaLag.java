package dev.headroom.db;

import java.time.Duration;
import java.util.Objects;

/**
 * What one probe saw on one replica.
 *
 * @param replayPosition the last replayed position (for PostgreSQL, the LSN as a number)
 * @param bytes how much of the primary's WAL the replica has not replayed; never negative
 * @param time how old the replica's view is: the age of its last replayed transaction, or zero when
 *     it has replayed everything it received (an idle primary does not make it lag)
 */
public record ReplicaLag(long replayPosition, long bytes, Duration time) {
    /**
     * @throws IllegalArgumentException if {@code bytes} or {@code time} is negative
     */
    public ReplicaLag {
        Objects.requireNonNull(time, "time");
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes must be >= 0, got " + bytes);
        }
        if (time.isNegative()) {
            throw new IllegalArgumentException("time must be >= 0, got " + time);
        }
    }
}
