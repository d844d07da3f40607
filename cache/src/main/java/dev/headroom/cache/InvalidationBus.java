package dev.headroom.cache;

/**
 * Carries invalidations between the instances of a cache so that each drops its L1 copy: the
 * cross-instance half of {@link TieredCache#invalidate}. Redis pub/sub is {@link
 * dev.headroom.cache.redis.RedisInvalidationBus}.
 *
 * <p>Delivery may be late, duplicated or lost; the cache is built for that. Each message carries
 * the key's new L2 version, and an instance drops its entry only if that entry is older, so a
 * delayed or replayed message never evicts newer data (and can never install any). Whenever
 * messages may have been lost — a gap in a publisher's sequence, a dropped or re-established
 * subscription — the bus calls {@link Listener#messagesMayHaveBeenLost()} and the cache flushes its
 * L1.
 *
 * <p>Implementations are thread-safe.
 */
public interface InvalidationBus extends AutoCloseable {

    /**
     * Tells the other instances that a key changed. Non-blocking, best effort.
     *
     * @param key the cache key, encoded
     * @param version the key's L2 version after the change
     */
    void publish(String key, long version);

    /**
     * Tells the other instances to drop their whole L1: sent after {@link
     * TieredCache#invalidateAll()} and after an L2 clear that replaced per-key invalidations.
     * Non-blocking, best effort.
     */
    void publishFlush();

    /**
     * Tells the other instances that an invalidation L2 had not taken (announced with {@code
     * Long.MAX_VALUE}) has now reached it: they may serve the key's L2 value again. The default
     * sends a plain invalidation.
     *
     * @param key the cache key, encoded
     * @param version the key's L2 version after the repair
     */
    default void publishRepaired(String key, long version) {
        publish(key, version);
    }

    /**
     * Tells the other instances to drop their whole L1 and, since L2 did not take this instance's
     * {@linkplain TieredCache#invalidateAll() clear}, to stop serving L2 values until a later
     * flush (the clear's repair) or {@code l2Ttl}. Non-blocking, best effort. The default sends a
     * plain flush.
     */
    default void publishClearNotTaken() {
        publishFlush();
    }

    /**
     * Starts delivering other instances' invalidations to {@code listener}. Called once, by the
     * cache at build time.
     *
     * @param listener receives invalidations and loss signals, on the bus's own thread
     */
    void subscribe(Listener listener);

    /**
     * Whether other instances' messages reach this instance now. While false the cache caps the
     * lifetime of what it puts in L1 ({@link TieredCacheBuilder#l1TtlWhileBusDown}), since it cannot
     * hear of invalidations. A bus that cannot tell answers true (the default).
     *
     * @return whether delivery is known to work
     */
    default boolean isDelivering() {
        return true;
    }

    /** Stops delivering and releases connections the bus owns. */
    @Override
    void close();

    /** What a cache does with the bus's messages. */
    interface Listener {
        /**
         * Another instance changed a key.
         *
         * @param key the cache key, encoded
         * @param version the key's L2 version after the change
         */
        void invalidated(String key, long version);

        /** Some invalidations may never arrive: drop everything that might be stale. */
        void messagesMayHaveBeenLost();

        /**
         * Another instance's invalidation that L2 had not taken has reached L2 now. The default
         * treats it as an invalidation.
         *
         * @param key the cache key, encoded
         * @param version the key's L2 version after the repair
         */
        default void repaired(String key, long version) {
            invalidated(key, version);
        }

        /**
         * Another instance cleared L2 (or repaired a clear) and asks for a flush. The default treats
         * it as possible loss.
         */
        default void flushRequested() {
            messagesMayHaveBeenLost();
        }

        /**
         * Another instance's clear was not taken by L2: drop everything, and do not trust L2 values
         * until a later {@link #flushRequested()}. The default treats it as possible loss.
         */
        default void clearNotTakenByL2() {
            messagesMayHaveBeenLost();
        }
    }
}
