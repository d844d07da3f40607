package dev.headroom.cache.coherence;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * A run's counters (operations, faults, by name) and the unexpected things it met (a read that
 * threw what it must not, a worker that died). Thread-safe.
 */
final class Tally {

    final Map<String, LongAdder> counts = new ConcurrentSkipListMap<>();
    private final List<String> unexpected = new ArrayList<>();
    private final LongSupplier now;
    private final Consumer<String> alsoTo;

    /** @param now the run's clock, in nanoseconds since it started, to stamp notes with */
    Tally(LongSupplier now) {
        this(now, what -> {});
    }

    /** @param alsoTo gets each unexpected thing as it happens (a worker's history file) */
    Tally(LongSupplier now, Consumer<String> alsoTo) {
        this.now = now;
        this.alsoTo = alsoTo;
    }

    void count(String what) {
        add(what, 1);
    }

    void add(String what, long n) {
        counts.computeIfAbsent(what, w -> new LongAdder()).add(n);
    }

    long get(String what) {
        LongAdder a = counts.get(what);
        return a == null ? 0 : a.sum();
    }

    /** An unexpected thing, stamped with the run's clock. */
    void note(String what) {
        unexpected(String.format("t=%.3fs %s", now.getAsLong() / 1e9, what));
    }

    /** An unexpected thing, as it is. */
    void unexpected(String what) {
        synchronized (unexpected) {
            unexpected.add(what);
        }
        alsoTo.accept(what);
    }

    List<String> unexpected() {
        synchronized (unexpected) {
            return new ArrayList<>(unexpected);
        }
    }
}
