package dev.headroom.cache.coherence;

import java.util.concurrent.atomic.AtomicLongArray;

/** The source of truth of a one-JVM run: a version per key, every key at version 1 to begin with. Thread-safe. */
final class InMemorySource implements SourceOfTruth {

    private final AtomicLongArray versions;

    InMemorySource(int keys) {
        versions = new AtomicLongArray(keys);
        for (int k = 0; k < keys; k++) {
            versions.set(k, 1);
        }
    }

    @Override
    public long version(int k) {
        return versions.get(k);
    }

    @Override
    public long bump(int k) {
        return versions.incrementAndGet(k);
    }
}
