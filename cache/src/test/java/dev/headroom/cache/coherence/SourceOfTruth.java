package dev.headroom.cache.coherence;

/**
 * The versioned source of truth the checker's caches load from: every key has a version that only
 * grows. Thread-safe in every implementation.
 */
interface SourceOfTruth extends AutoCloseable {

    /** The current version of key {@code k}. */
    long version(int k);

    /** Bumps key {@code k} atomically and returns its new version. */
    long bump(int k);

    @Override
    default void close() {}
}
