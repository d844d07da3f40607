package dev.headroom.cache.internal;

import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds asynchronous calls by a timeout without a thread wake-up per call.
 *
 * <p>{@code CompletableFuture.orTimeout} schedules a task on the JDK's delayer thread for every call
 * and cancels it when the call completes; with an empty delay queue each new task becomes the head
 * and wakes that thread. Measured on the 2-vCPU VM: one extra context switch and ~25 µs of CPU per
 * L2 read (benchmarks/RESULTS.md). Here calls are only registered in a set; one daemon thread
 * sleeps until the earliest registered deadline, fails what is past it, and otherwise sleeps
 * indefinitely. A call whose deadline is earlier than the thread's next wake-up wakes it; with one
 * timeout per cache that is rare, because later calls have later deadlines.
 *
 * <p>Promise: the returned future completes with the call's outcome, or with a {@link
 * TimeoutException} no earlier than the deadline and, unless the thread waits for a CPU, within
 * about a millisecond after it. The call itself is not cancelled. Continuations of a timed-out
 * future run on the timeout thread and must be short.
 */
public final class Timeouts extends ParkingDaemon {
    private static final Logger log = LoggerFactory.getLogger(Timeouts.class);
    /** {@link #wakeAt} while the thread is scanning: callers nudge it to scan once more. */
    private static final long SCANNING = Long.MIN_VALUE;

    private static final class Holder {
        static final Timeouts INSTANCE = new Timeouts().start("headroom-cache-timeouts");
    }

    private static final class Pending {
        final CompletableFuture<?> future;
        final long deadline;
        final long timeoutNanos;

        Pending(CompletableFuture<?> future, long deadline, long timeoutNanos) {
            this.future = future;
            this.deadline = deadline;
            this.timeoutNanos = timeoutNanos;
        }
    }

    private final Set<Pending> pending = ConcurrentHashMap.newKeySet();
    private volatile long wakeAt = SCANNING;

    Timeouts() {}

    /** The JVM-wide instance; the first call starts its daemon thread. */
    public static Timeouts shared() {
        return Holder.INSTANCE;
    }

    Timeouts start(String threadName) {
        startThread(threadName);
        return this;
    }

    void stop() throws InterruptedException {
        stopThread();
    }

    /** When the thread means to wake next ({@link #SCANNING} while it scans); for tests. */
    long wakeAt() {
        return wakeAt;
    }

    /** Calls registered and not yet completed; for tests. */
    int pending() {
        return pending.size();
    }

    /**
     * Returns a future that completes like {@code call}, or fails with {@link TimeoutException} once
     * {@code timeoutNanos} have passed.
     *
     * @param call the call to bound
     * @param timeoutNanos positive
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback only unregisters; the caller holds the result
    public <T> CompletableFuture<T> within(CompletionStage<T> call, long timeoutNanos) {
        CompletableFuture<T> result = call.toCompletableFuture().copy();
        if (result.isDone()) {
            return result;
        }
        Pending p = new Pending(result, System.nanoTime() + timeoutNanos, timeoutNanos);
        pending.add(p);
        result.whenComplete((v, e) -> pending.remove(p));
        long w = wakeAt;
        if (w == SCANNING || p.deadline - w < 0) {
            Thread t = thread();
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
        return result;
    }

    @Override
    void run() {
        while (!stopped()) {
            wakeAt = SCANNING;
            long now = System.nanoTime();
            long earliest = Long.MAX_VALUE;
            boolean any = false;
            for (Iterator<Pending> it = pending.iterator(); it.hasNext(); ) {
                Pending p = it.next();
                if (p.future.isDone()) {
                    it.remove();
                } else if (now - p.deadline >= 0) {
                    it.remove();
                    expire(p);
                } else if (!any || p.deadline - earliest < 0) {
                    earliest = p.deadline;
                    any = true;
                }
            }
            if (any) {
                wakeAt = earliest;
                LockSupport.parkNanos(this, Math.max(1, earliest - System.nanoTime()));
            } else {
                wakeAt = System.nanoTime() + TimeUnit.DAYS.toNanos(365);
                LockSupport.park(this);
            }
        }
    }

    private static void expire(Pending p) {
        long micros = TimeUnit.NANOSECONDS.toMicros(p.timeoutNanos);
        String bound = micros >= 1000 ? micros / 1000 + " ms" : micros + " µs";
        try {
            p.future.completeExceptionally(new TimeoutException("no answer within " + bound));
        } catch (RuntimeException e) { // a continuation threw: keep the thread alive
            log.warn("continuation of a timed-out call failed", e);
        }
    }
}
