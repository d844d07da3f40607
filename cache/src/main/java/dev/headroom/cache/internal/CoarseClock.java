package dev.headroom.cache.internal;

import dev.headroom.core.Ticker;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The clock behind L1 freshness checks: {@link System#nanoTime()} when reads are few, a sample
 * taken every millisecond by a daemon thread when reads are many.
 *
 * <p>Why: a clock call costs about 28 ns on the 2-vCPU VM in benchmarks/RESULTS.md (hundreds of
 * ns where the hypervisor's clock has no vDSO fast path), which was most of an L1 hit. Sampling
 * costs the thread about 18 µs of CPU per millisecond on that VM (1.8% of a core), which equals
 * what the clock calls cost at about 550,000 reads per second. So below {@link
 * #DEFAULT_READS_PER_SECOND} the clock stays precise and every read calls {@code nanoTime} (plus
 * one uncontended {@link LongAdder} increment, which is how the thread measures the read rate).
 *
 * <p>The cycle: measure the read rate over {@code measure} (precise mode); if it is at least the
 * threshold, publish a sample every {@code tick} for {@code ticking}, then measure again. With no
 * reads at all the thread waits {@code idle} between measurements, so an idle JVM costs nothing
 * noticeable.
 *
 * <p>Promise: a read never runs ahead of {@code nanoTime} and lags it by at most one tick plus
 * however long the thread waits for a CPU. Unlike a {@link Ticker} in general, a thread's
 * successive reads can step back by the time between the sampler's {@code nanoTime} call and its
 * publication (normally nanoseconds) when the clock switches from precise to sampled; the cache
 * only compares reads against entry deadlines, where that is harmless. Everything else in the cache
 * (load times, lease deadlines, the sweep) reads the precise ticker on the same timeline, so the
 * sweep still bounds how long an entry can outlive its lifetime if the sampler were starved.
 */
public final class CoarseClock extends ParkingDaemon implements Ticker {
    static final long DEFAULT_READS_PER_SECOND = 500_000;

    /** The value of {@link #now} while the clock is precise; a sample equal to it is skipped. */
    private static final long PRECISE = Long.MIN_VALUE;

    private static final class Holder {
        static final CoarseClock INSTANCE = new CoarseClock(
                        TimeUnit.MILLISECONDS.toNanos(1),
                        TimeUnit.MILLISECONDS.toNanos(100),
                        TimeUnit.SECONDS.toNanos(1),
                        TimeUnit.SECONDS.toNanos(1),
                        DEFAULT_READS_PER_SECOND)
                .start("headroom-coarse-clock");
    }

    private final long tickNanos;
    private final long measureNanos;
    private final long tickingNanos;
    private final long idleNanos;
    private final long readsPerSecond;
    private final LongAdder preciseReads = new LongAdder();
    private volatile long now = PRECISE;

    CoarseClock(long tickNanos, long measureNanos, long tickingNanos, long idleNanos, long readsPerSecond) {
        this.tickNanos = tickNanos;
        this.measureNanos = measureNanos;
        this.tickingNanos = tickingNanos;
        this.idleNanos = idleNanos;
        this.readsPerSecond = readsPerSecond;
    }

    /** The JVM-wide clock; the first call starts its daemon thread. */
    public static CoarseClock shared() {
        return Holder.INSTANCE;
    }

    CoarseClock start(String threadName) {
        startThread(threadName);
        return this;
    }

    void stop() throws InterruptedException {
        stopThread();
    }

    @Override
    public long read() {
        long t = now;
        if (t != PRECISE) {
            return t;
        }
        preciseReads.increment();
        return System.nanoTime();
    }

    /** Whether reads currently return the sampled time. */
    boolean sampling() {
        return now != PRECISE;
    }

    @Override
    void run() {
        long wait = measureNanos;
        while (!stopped()) {
            preciseReads.reset();
            long start = System.nanoTime();
            LockSupport.parkNanos(this, wait);
            long reads = preciseReads.sum();
            long elapsed = Math.max(1, System.nanoTime() - start);
            if (reads > 0 && reads >= readsPerSecond * (double) elapsed / TimeUnit.SECONDS.toNanos(1)) {
                sample();
                wait = measureNanos;
            } else {
                wait = reads == 0 ? idleNanos : measureNanos;
            }
        }
    }

    /** Publishes a sample every tick for {@code tickingNanos}, then returns to precise. */
    private void sample() {
        long end = System.nanoTime() + tickingNanos;
        long s;
        do {
            s = System.nanoTime();
            if (s != PRECISE) {
                now = s;
            }
            LockSupport.parkNanos(this, tickNanos);
        } while (!stopped() && s - end < 0);
        now = PRECISE;
    }
}
