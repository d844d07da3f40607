package dev.headroom.cache.internal;

import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;

/**
 * One set of Lettuce client resources (event loops, timer) for every Redis client this module
 * creates itself: Lettuce's resources are meant to be shared, and a client each would cost every
 * cache its own threads. Created on first use; lives for the JVM (its threads are daemons).
 */
public final class SharedClientResources {
    private SharedClientResources() {}

    public static ClientResources get() {
        return Holder.RESOURCES;
    }

    private static final class Holder {
        static final ClientResources RESOURCES = DefaultClientResources.create();
    }
}
