package dev.headroom.cache.internal;

import java.util.concurrent.locks.LockSupport;
import org.jspecify.annotations.Nullable;

/**
 * A background loop on one daemon thread that parks between rounds: the shared lifecycle of {@link
 * CoarseClock} and {@link Timeouts}. The loop checks {@link #stopped()}; {@link #stopThread()}
 * unparks it and waits for it to end.
 */
abstract class ParkingDaemon {
    private volatile boolean stopped;
    private volatile @Nullable Thread thread;

    /** The loop; runs until {@link #stopped()} (or forever for the shared instances). */
    abstract void run();

    final void startThread(String threadName) {
        Thread t = new Thread(this::run, threadName);
        t.setDaemon(true);
        thread = t;
        t.start();
    }

    /** Stops the loop and waits for its thread; for tests of non-shared instances. */
    final void stopThread() throws InterruptedException {
        stopped = true;
        Thread t = thread;
        if (t != null) {
            LockSupport.unpark(t);
            t.join();
        }
    }

    final boolean stopped() {
        return stopped;
    }

    /** The loop's thread, once started. */
    final @Nullable Thread thread() {
        return thread;
    }
}
