package dev.headroom.queue;

/**
 * What a {@link JobStore} tells its workers through {@link JobStore#subscribe}: hints, never
 * guarantees. Implementations must be thread-safe and must not block.
 */
public interface JobWakeups {

    /**
     * Jobs may be available on {@code queue} (a transaction that enqueued there committed).
     *
     * @param queue the queue
     */
    void jobsAvailable(String queue);

    /**
     * The store found that its notifications are not arriving (PostgreSQL: a probe {@code NOTIFY}
     * never came back, as behind a transaction-mode PgBouncer); workers then rely on polling alone.
     * Called again each time a probe is lost.
     *
     * @param why what was observed
     */
    default void notificationsMissing(String why) {}

    /** Notifications arrive again after {@link #notificationsMissing}. */
    default void notificationsRestored() {}
}
