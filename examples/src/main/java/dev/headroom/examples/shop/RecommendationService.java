package dev.headroom.examples.shop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * A simulated slow, flaky recommendation service, in process: each call takes the configured
 * latency (an interruptible sleep, so a guard's timeout ends it and frees its slot) and fails with
 * the configured probability. Operators turn both knobs through {@code /admin}; tests can also make
 * the next calls hang, ignoring interrupts, until a latch opens, as a stuck dependency would, so
 * they hold bulkhead slots for as long as the test wants. Thread-safe.
 */
final class RecommendationService {

    /** How many products a live answer recommends. */
    static final int COUNT = 3;
    /** The latency the shop starts with: well inside the guard's timeout. */
    static final Duration DEFAULT_LATENCY = Duration.ofMillis(20);
    /** The failure fraction the shop starts with: a retry mostly hides it. */
    static final double DEFAULT_FAILURE_FRACTION = 0.02;

    private volatile long latencyNanos;
    private volatile double failureFraction;
    private final AtomicInteger holdsLeft = new AtomicInteger();
    private final AtomicInteger held = new AtomicInteger();
    private volatile @Nullable CountDownLatch release;

    RecommendationService(Duration latency, double failureFraction) {
        setLatency(latency);
        setFailureFraction(failureFraction);
    }

    /** Thrown by a call that failed (the simulated fraction). */
    static final class Unavailable extends RuntimeException {
        Unavailable() {
            super("the recommendation service failed", null, false, false);
        }
    }

    void setLatency(Duration latency) {
        if (latency.isNegative()) {
            throw new IllegalArgumentException("latency must not be negative, got " + latency);
        }
        this.latencyNanos = latency.toNanos();
    }

    Duration latency() {
        return Duration.ofNanos(latencyNanos);
    }

    void setFailureFraction(double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) {
            throw new IllegalArgumentException("failure fraction must be from 0 to 1, got " + fraction);
        }
        this.failureFraction = fraction;
    }

    double failureFraction() {
        return failureFraction;
    }

    /**
     * Makes the next {@code calls} calls wait, deaf to interrupts, until {@code release} opens: what a
     * stuck dependency does to its callers' bulkhead. For tests.
     */
    void holdNext(int calls, CountDownLatch release) {
        this.release = release;
        holdsLeft.set(calls);
    }

    /** The calls waiting in {@link #holdNext} right now. */
    int held() {
        return held.get();
    }

    /**
     * Recommends up to {@link #COUNT} ids from {@code catalog} for a product: the ones after it, so
     * the answer differs per product and is stable.
     *
     * @throws Unavailable with the configured probability
     */
    List<Long> recommend(long productId, List<Product> catalog) {
        if (holdsLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            hold();
        }
        long latency = latencyNanos;
        if (latency > 0) {
            try {
                TimeUnit.NANOSECONDS.sleep(latency);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // the guard timed the call out: give the slot back now
                throw new Unavailable();
            }
        }
        if (ThreadLocalRandom.current().nextDouble() < failureFraction) {
            throw new Unavailable();
        }
        List<Long> ids = new ArrayList<>(COUNT);
        int start = 0;
        for (int i = 0; i < catalog.size(); i++) {
            if (catalog.get(i).id() == productId) {
                start = i + 1;
            }
        }
        for (int i = 0; i < catalog.size() && ids.size() < COUNT; i++) {
            Product p = catalog.get((start + i) % catalog.size());
            if (p.id() != productId) {
                ids.add(p.id());
            }
        }
        return ids;
    }

    private void hold() {
        CountDownLatch gate = release;
        if (gate == null) {
            return;
        }
        held.incrementAndGet();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    gate.await();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // stuck for real: ignore the guard's interrupt, keep the slot
                }
            }
        } finally {
            held.decrementAndGet();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
