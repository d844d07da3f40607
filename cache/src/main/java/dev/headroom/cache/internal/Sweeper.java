package dev.headroom.cache.internal;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * One daemon thread, shared by every cache in the JVM, that runs each cache's periodic sweep of
 * L1 entries past their lifetime. Sweeps are short and non-blocking.
 */
public final class Sweeper {
    private static final ScheduledExecutorService SCHEDULER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "headroom-cache-sweeper");
        t.setDaemon(true);
        return t;
    });

    private Sweeper() {}

    public static ScheduledFuture<?> every(long periodNanos, Runnable sweep) {
        return SCHEDULER.scheduleWithFixedDelay(sweep, periodNanos, periodNanos, TimeUnit.NANOSECONDS);
    }
}
