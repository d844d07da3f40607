package dev.headroom.cache.coherence;

import dev.headroom.cache.CacheLoadException;
import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * The checker's operations and their recording, shared by the one-JVM run ({@link CoherenceRun}, several
 * instances) and the separate-process worker ({@link ProcessWorker}, one instance): {@link
 * TieredCache} instances with recording store and bus connections, random reads, writes and clears on
 * them against a {@link SourceOfTruth}, and a monitor of their buses. Add every instance before
 * starting the threads that call {@link #work} and {@link #monitorBuses}; those are thread-safe.
 */
final class Workload {

    static final String PREFIX = "coh:";

    private final Settings settings;
    private final History history;
    private final Tally tally;
    private final SourceOfTruth source;
    private final ReentrantLock[] writeLocks;
    private final List<Instance> instances = new ArrayList<>();
    private final AtomicLong writeIds;
    private volatile boolean stopping;

    /** One cache with its recording store and bus, and the checker's reads in flight on it per key. */
    private static final class Instance {
        final int index;
        final TieredCache<String, String> cache;
        final RecordingRemoteStore store;
        final RecordingBus bus;
        final AtomicReference<FunctionCounter> flushes;
        final ConcurrentHashMap<String, AtomicInteger> readsInFlight;

        Instance(
                int index,
                TieredCache<String, String> cache,
                RecordingRemoteStore store,
                RecordingBus bus,
                AtomicReference<FunctionCounter> flushes,
                ConcurrentHashMap<String, AtomicInteger> readsInFlight) {
            this.index = index;
            this.cache = cache;
            this.store = store;
            this.bus = bus;
            this.flushes = flushes;
            this.readsInFlight = readsInFlight;
        }

        long flushCount() {
            FunctionCounter c = flushes.get();
            return c == null ? 0 : (long) c.count();
        }
    }

    /**
     * @param firstWriteId write ids count up from here; processes take disjoint ranges, so a put's
     *     origin ({@code P<id>}) names one write across the whole run
     */
    Workload(Settings settings, History history, Tally tally, SourceOfTruth source, long firstWriteId) {
        this.settings = settings;
        this.history = history;
        this.tally = tally;
        this.source = source;
        this.writeIds = new AtomicLong(firstWriteId);
        this.writeLocks = new ReentrantLock[settings.keys()];
        for (int k = 0; k < settings.keys(); k++) {
            writeLocks[k] = new ReentrantLock();
        }
    }

    static String key(int k) {
        return String.format("k%02d", k);
    }

    boolean stopping() {
        return stopping;
    }

    void stop() {
        stopping = true;
    }

    /** Instance {@code i}: its store connects to {@code storeUri}, its bus to {@code busUri}. */
    void addInstance(int i, String storeUri, String busUri) {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RecordingRemoteStore store = new RecordingRemoteStore(
                RedisRemoteStore.builder().uri(storeUri).keyPrefix(PREFIX).build(), history);
        AtomicReference<FunctionCounter> flushes = new AtomicReference<>();
        RecordingBus bus = new RecordingBus(
                RedisInvalidationBus.create(busUri, PREFIX + "invalidations"),
                i,
                history,
                () -> {
                    FunctionCounter c = flushes.get();
                    return c == null ? 0 : (long) c.count();
                },
                settings.sabotage().contains("deaf-bus"));
        ConcurrentHashMap<String, AtomicInteger> readsInFlight = new ConcurrentHashMap<>();
        AtomicLong loadIds = new AtomicLong();
        TieredCache<String, String> cache = TieredCache.<String, String>builder("coherence-" + i)
                .maximumSize(10_000)
                .ttl(settings.ttl())
                .staleWhileRevalidate(settings.grace())
                .l2Ttl(settings.l2Ttl())
                .l2Timeout(settings.l2Timeout())
                .l2BreakerOpenFor(Duration.ofMillis(500))
                .loadTimeout(settings.loadTimeout())
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .meterRegistry(registry)
                .loader(key -> load(i, loadIds, readsInFlight, key))
                .build();
        flushes.set(registry.find("headroom.cache.l1.flushes")
                .tag("cache", "coherence-" + i)
                .functionCounter());
        instances.add(new Instance(i, cache, store, bus, flushes, readsInFlight));
    }

    /**
     * The source of truth's read: its current version, then a short random delay (a database round
     * trip), so loads are in flight long enough to race writes.
     */
    private String load(int instance, AtomicLong loadIds, Map<String, AtomicInteger> readsInFlight, String key)
            throws InterruptedException {
        long start = history.now();
        AtomicInteger readers = readsInFlight.get(key);
        boolean background = readers == null || readers.get() == 0;
        long version = source.version(Integer.parseInt(key.substring(1)));
        TimeUnit.MILLISECONDS.sleep(ThreadLocalRandom.current().nextInt(0, 20)); // the database's latency
        String origin = (background ? "B" : "L") + instance + "." + loadIds.incrementAndGet();
        history.add(new History.Load(origin, instance, key, version, start, history.now()));
        return version + "|" + origin;
    }

    /** One worker thread's body: operations the seed of {@code random} decides, until {@link #stop}. */
    void work(Random random) {
        try {
            while (!stopping) {
                Instance in = instances.get(random.nextInt(instances.size()));
                int k = random.nextInt(settings.keys());
                int roll = random.nextInt(1000);
                if (roll < 700) {
                    read(in, k, false);
                } else if (roll < 760) {
                    read(in, k, true);
                } else if (roll < 880) {
                    write(in, k, History.WriteKind.INVALIDATE);
                } else if (roll < 998) {
                    write(in, k, History.WriteKind.PUT);
                } else {
                    clear(in);
                }
                TimeUnit.MILLISECONDS.sleep(1); // paces the operations; not a synchronisation
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            tally.unexpected(Thread.currentThread().getName() + " died: " + e);
        }
    }

    private void read(Instance in, int k, boolean async) {
        String key = key(k);
        AtomicInteger readers = in.readsInFlight.computeIfAbsent(key, x -> new AtomicInteger());
        readers.incrementAndGet();
        long flushes = in.flushCount();
        long start = history.now();
        String value;
        try {
            value = async ? in.cache.getAsync(key).join() : in.cache.get(key);
        } catch (CacheLoadException | CompletionException e) {
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            if (!(cause instanceof CacheLoadException)) {
                tally.note("read of " + key + " on i" + in.index + " failed with " + cause);
            }
            tally.count(async ? "getAsync.failed" : "get.failed");
            history.add(new History.Read(in.index, key, start, history.now(), -1, "failed", flushes, 0));
            return;
        } finally {
            readers.decrementAndGet();
        }
        long end = history.now();
        long sourceAtEnd = source.version(k);
        tally.count(async ? "getAsync" : "get");
        if (value == null) {
            tally.note("read of " + key + " on i" + in.index + " returned null; the loader never does");
            return;
        }
        int bar = value.indexOf('|');
        history.add(new History.Read(
                in.index,
                key,
                start,
                end,
                Long.parseLong(value.substring(0, bar)),
                value.substring(bar + 1),
                flushes,
                sourceAtEnd));
    }

    /**
     * Unless {@code racingWrites}, writes of one key take turns, within this process: worker processes
     * do not share the lock, so theirs race regardless.
     */
    private void write(Instance in, int k, History.WriteKind kind) {
        String key = key(k);
        ReentrantLock lock = settings.racingWrites() ? null : writeLocks[k];
        if (lock != null) {
            lock.lock();
        }
        try {
            long id = writeIds.incrementAndGet();
            long start = history.now();
            history.add(new History.WriteBegun(id, in.index, key, start));
            long version = source.bump(k);
            long bumped = history.now();
            RecordingRemoteStore.Probe probe = in.store.expect(key);
            boolean silent = settings.sabotage().contains("silent-invalidates");
            try {
                if (kind == History.WriteKind.PUT) {
                    in.cache.put(key, version + "|P" + id);
                } else if (silent) {
                    probe.started = history.now();
                    probe.done = probe.started;
                } else {
                    in.cache.invalidate(key);
                }
            } finally {
                in.store.done();
            }
            long end = history.now();
            long done = probe.done;
            boolean l2Ok = !probe.failed
                    && done >= 0
                    && done <= end
                    // the cache's guard gives up at l2Timeout: a reply near it may have come too late
                    && done - probe.started < settings.l2Timeout().toNanos() - TimeUnit.MILLISECONDS.toNanos(20);
            tally.count(kind == History.WriteKind.PUT ? "put" : "invalidate");
            if (!l2Ok) {
                tally.count((kind == History.WriteKind.PUT ? "put" : "invalidate") + ".l2Failed");
            }
            history.add(new History.Write(
                    id,
                    kind,
                    in.index,
                    key,
                    version,
                    start,
                    bumped,
                    end,
                    l2Ok,
                    probe.version,
                    silent && kind == History.WriteKind.INVALIDATE ? -1 : probe.started,
                    done));
        } finally {
            if (lock != null) {
                lock.unlock();
            }
        }
    }

    private void clear(Instance in) {
        long start = history.now();
        RecordingRemoteStore.Probe probe = in.store.expect("*");
        try {
            in.cache.invalidateAll();
        } finally {
            in.store.done();
        }
        long end = history.now();
        boolean ok = !probe.failed && probe.done >= 0 && probe.done <= end;
        tally.count("invalidateAll");
        history.add(new History.Clear(in.index, start, end, ok));
    }

    /** Polls every bus's {@code isSubscribed()} and records each change, until {@link #stop}. */
    void monitorBuses() {
        boolean[] last = new boolean[instances.size()];
        for (int i = 0; i < last.length; i++) {
            last[i] = instances.get(i).bus.isSubscribed();
            history.add(new History.BusState(instances.get(i).index, last[i], history.now()));
        }
        try {
            while (!stopping) {
                for (int i = 0; i < last.length; i++) {
                    boolean now = instances.get(i).bus.isSubscribed();
                    if (now != last[i]) {
                        last[i] = now;
                        history.add(new History.BusState(instances.get(i).index, now, history.now()));
                    }
                }
                TimeUnit.MILLISECONDS.sleep(2); // polling interval of the monitor
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes every instance's cache. */
    void closeInstances() {
        for (Instance in : instances) {
            in.cache.close();
        }
    }
}
