package dev.headroom.queue;

import java.time.Duration;
import java.util.Objects;

/**
 * A queue's size at one moment, for the depth and age gauges. Immutable.
 *
 * @param ready jobs due and waiting to be claimed
 * @param scheduled jobs waiting for a run-at time still to come (retries included)
 * @param running jobs under a lease (expired leases included until the next claim rescues them)
 * @param oldestReadyAge how long the oldest ready job has been due; zero when none is
 */
public record QueueStats(long ready, long scheduled, long running, Duration oldestReadyAge) {

    /** No jobs. */
    public static final QueueStats EMPTY = new QueueStats(0, 0, 0, Duration.ZERO);

    /**
     * Checks the fields.
     *
     * @throws IllegalArgumentException if a count or the age is negative
     */
    public QueueStats {
        Objects.requireNonNull(oldestReadyAge, "oldestReadyAge");
        if (ready < 0 || scheduled < 0 || running < 0 || oldestReadyAge.isNegative()) {
            throw new IllegalArgumentException(
                    "negative queue stats: " + ready + ", " + scheduled + ", " + running + ", " + oldestReadyAge);
        }
    }
}
