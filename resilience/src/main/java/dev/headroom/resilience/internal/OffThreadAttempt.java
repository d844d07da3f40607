package dev.headroom.resilience.internal;

import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One synchronous attempt that has a timeout, run on the guard's executor while the caller waits. Its
 * concurrency slot is released when the work really ends (before its result is published, so a
 * caller that saw the result sees the slot free), not when the caller stops waiting: a call that
 * ignores its interrupt keeps its slot, so abandoned work can never pile up beyond the limit. A task
 * cancelled before it started releases its slot at once. Not API.
 */
final class OffThreadAttempt<T> extends FutureTask<T> {
    private final Slot slot;

    private OffThreadAttempt(Slot slot, Callable<T> body) {
        super(body);
        this.slot = slot;
    }

    static <T> OffThreadAttempt<T> of(GuardEngine engine, Callable<T> task, long startNanos, int inFlight) {
        Slot slot = new Slot(engine);
        return new OffThreadAttempt<>(slot, () -> {
            if (!slot.state.compareAndSet(Slot.NEW, Slot.RUNNING)) {
                throw new CancellationException(); // cancelled before it started; done() released the slot
            }
            boolean failed = false;
            try {
                return task.call();
            } catch (Throwable t) {
                failed = true;
                throw t;
            } finally {
                if (slot.cutByDeadline) {
                    engine.gate.releaseUnused(); // cut short by the caller: no sample of the dependency
                } else {
                    long rtt = engine.ticker.read() - startNanos;
                    engine.gate.release(startNanos, rtt, inFlight, failed || slot.timedOut);
                }
                slot.state.set(Slot.RELEASED);
            }
        });
    }

    /**
     * The caller gave up waiting: the work is interrupted; the sample counts as dropped, or, if the
     * caller's deadline rather than the guard's timeout cut it short, is not taken at all.
     */
    void timedOut(boolean cutByDeadline) {
        slot.cutByDeadline = cutByDeadline;
        slot.timedOut = true;
        cancel(true);
    }

    @Override
    protected void done() {
        if (slot.state.compareAndSet(Slot.NEW, Slot.RELEASED)) {
            slot.engine.gate.releaseUnused();
        }
    }

    /** Who releases the slot, and when. */
    private static final class Slot {
        static final int NEW = 0;
        static final int RUNNING = 1;
        static final int RELEASED = 2;

        final GuardEngine engine;
        final AtomicInteger state = new AtomicInteger(NEW);
        volatile boolean timedOut;
        volatile boolean cutByDeadline;

        Slot(GuardEngine engine) {
            this.engine = engine;
        }
    }
}
