package dev.headroom.cache.coherence;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.jspecify.annotations.Nullable;

/**
 * Everything a run did and saw, in nanoseconds since the run started: appended by many threads,
 * read by {@link CoherenceCheck} once the run is over. A separate-process worker's history goes to
 * its {@link HistoryFile} instead of memory; the coordinator merges the files into one history.
 */
final class History {

    enum WriteKind {
        INVALIDATE,
        PUT
    }

    /**
     * A write: the source bumped to {@code version}, then {@code invalidate} or {@code put} of that
     * version on {@code instance}. {@code l2Ok}: the instance's store call completed normally within
     * the L2 timeout, before the cache call returned; {@code l2Version} is what it returned.
     */
    record Write(
            long id,
            WriteKind kind,
            int instance,
            String key,
            long version,
            long start,
            long bumped,
            long end,
            boolean l2Ok,
            long l2Version,
            long l2Start,
            long l2Done) {}

    /**
     * A write about to begin (recorded before the source is bumped): a worker killed mid-write leaves
     * this without its {@link Write}, and a put it made may still have reached Redis.
     */
    record WriteBegun(long id, int instance, String key, long start) {}

    /**
     * A read on {@code instance}: the version it returned (-1: CacheLoadException), where the value
     * came from, and what the checker knew at its start.
     */
    record Read(
            int instance,
            String key,
            long start,
            long end,
            long version,
            String origin,
            long flushesAtStart,
            long sourceAtEnd) {
        boolean failed() {
            return version < 0;
        }
    }

    /**
     * The bus's listener callback on {@code instance} returned: an invalidation of {@code key} at L2
     * version {@code version}, or (key null) a "messages may have been lost" flush, which the cache
     * applies asynchronously; {@code flushesAtStart} is the instance's flush count when it was called.
     */
    record Delivery(int instance, @Nullable String key, long version, long start, long end, long flushesAtStart) {
        boolean flush() {
            return key == null;
        }
    }

    /** A loader call on {@code instance} that returned {@code version} under the origin id {@code origin}. */
    record Load(String origin, int instance, String key, long version, long start, long end) {}

    /** A fault the checker injected, from its start until it was over (Redis answering again). */
    record Fault(String kind, long start, long end) {}

    /** A change of an instance's {@code isSubscribed()} seen by the monitor. */
    record BusState(int instance, boolean subscribed, long at) {}

    /** An {@code invalidateAll} on {@code instance}. */
    record Clear(int instance, long start, long end, boolean l2Ok) {}

    /**
     * {@code System.nanoTime()} when the run started. Separate processes pass the coordinator's
     * origin on: on Linux HotSpot {@code System.nanoTime()} reads {@code CLOCK_MONOTONIC}, one clock
     * for every process on the machine, so their stamps are comparable.
     */
    final long origin;

    final ConcurrentLinkedQueue<Write> writes = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<WriteBegun> writesBegun = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Read> reads = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Delivery> deliveries = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Load> loads = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Fault> faults = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<BusState> busStates = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Clear> clears = new ConcurrentLinkedQueue<>();
    /** Instances whose process was killed with SIGKILL (separate-process runs only). */
    final Set<Integer> killed = ConcurrentHashMap.newKeySet();

    private final @Nullable HistoryFile journal;

    History() {
        this(System.nanoTime(), null);
    }

    /** A history stamped from {@code origin} that goes to {@code journal} when there is one, else to memory. */
    History(long origin, @Nullable HistoryFile journal) {
        this.origin = origin;
        this.journal = journal;
    }

    long now() {
        return System.nanoTime() - origin;
    }

    /** Records one event: to the journal when there is one, else to its queue. */
    void add(Record event) {
        if (journal != null) {
            journal.append(event);
        } else {
            keep(event);
        }
    }

    /** Adds {@code event} to its queue in memory. */
    void keep(Record event) {
        if (event instanceof Read r) {
            reads.add(r);
        } else if (event instanceof Write w) {
            writes.add(w);
        } else if (event instanceof WriteBegun b) {
            writesBegun.add(b);
        } else if (event instanceof Load l) {
            loads.add(l);
        } else if (event instanceof Delivery d) {
            deliveries.add(d);
        } else if (event instanceof BusState b) {
            busStates.add(b);
        } else if (event instanceof Clear c) {
            clears.add(c);
        } else if (event instanceof Fault f) {
            faults.add(f);
        } else {
            throw new IllegalArgumentException("not a history event: " + event);
        }
    }
}
