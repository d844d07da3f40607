package dev.headroom.cache.coherence;

import dev.headroom.cache.CacheLoadException;
import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.testing.TcpProxy;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Drives one seeded run: several {@link TieredCache} instances, each with its own Redis store and
 * bus connections to a Redis of the checker's own, random reads and writes on worker threads against
 * a versioned source of truth, and random faults; everything is recorded in a {@link History}.
 *
 * <p>What the seed decides: each worker's sequence of operations (kind, instance, key) and the fault
 * thread's sequence of faults. What it cannot: the interleavings, and how many operations fit in the
 * time.
 */
final class CoherenceRun {

    private static final String PREFIX = "coh:";

    final Settings settings;
    final History history = new History();
    final Map<String, LongAdder> counts = new ConcurrentSkipListMap<>();
    final List<String> unexpected = new ArrayList<>();

    private final AtomicLong[] source;
    private final ReentrantLock[] writeLocks;
    private final List<Instance> instances = new ArrayList<>();
    /** Per instance, in front of its store's connection only (its bus connects directly). */
    private final List<TcpProxy> storeProxies = new ArrayList<>();

    private final AtomicLong writeIds = new AtomicLong();
    private volatile boolean stopping;

    /** One cache with its recording store and bus, and the checker's reads in flight on it per key. */
    private static final class Instance {
        final int index;
        final TieredCache<String, String> cache;
        final RecordingRemoteStore store;
        final RecordingBus bus;
        final AtomicReference<FunctionCounter> flushes;
        final ConcurrentHashMap<String, AtomicInteger> readsInFlight;
        final AtomicLong loadIds = new AtomicLong();

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

    CoherenceRun(Settings settings) {
        this.settings = settings;
        this.source = new AtomicLong[settings.keys()];
        this.writeLocks = new ReentrantLock[settings.keys()];
        for (int k = 0; k < settings.keys(); k++) {
            source[k] = new AtomicLong(1);
            writeLocks[k] = new ReentrantLock();
        }
    }

    static String key(int k) {
        return String.format("k%02d", k);
    }

    private void count(String what) {
        counts.computeIfAbsent(what, w -> new LongAdder()).increment();
    }

    /** Runs for the settings' duration against {@code redis}, then closes every instance. */
    void run(OwnedRedis redis) throws InterruptedException {
        for (int i = 0; i < settings.instances(); i++) {
            TcpProxy proxy = TcpProxy.start("127.0.0.1", redis.port());
            storeProxies.add(proxy);
            instances.add(newInstance(i, "redis://127.0.0.1:" + proxy.port(), redis.uri()));
        }
        List<Thread> threads = new ArrayList<>();
        threads.add(daemon("coherence-bus-monitor", this::monitorBuses));
        for (int t = 0; t < settings.threads(); t++) {
            int worker = t;
            threads.add(daemon("coherence-worker-" + t, () -> work(new Random(settings.seed() * 1_000_003L + worker))));
        }
        threads.add(daemon("coherence-faults", () -> injectFaults(redis, new Random(settings.seed() ^ 0x5EEDFA17L))));
        if (settings.fault("pressure")) {
            threads.add(daemon("coherence-pressure", () -> pressure(redis, new Random(settings.seed() ^ 0xF111E5L))));
        }
        threads.forEach(Thread::start);
        long end = System.nanoTime() + settings.duration().toNanos();
        while (System.nanoTime() - end < 0) {
            TimeUnit.MILLISECONDS.sleep(Math.min(200, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime()) + 1));
        }
        stopping = true;
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            if (t.isAlive()) {
                synchronized (unexpected) {
                    unexpected.add(t.getName() + " did not stop within 30 s");
                }
            }
        }
        addEvictions(redis);
        for (Instance in : instances) {
            in.cache.close();
        }
        storeProxies.forEach(TcpProxy::close);
    }

    /** Redis's eviction count is lost with a restart: added up before each one and at the end. */
    private void addEvictions(OwnedRedis redis) {
        long evicted = evictedKeys(redis);
        if (evicted > 0) {
            counts.computeIfAbsent("redis.evictedKeys", w -> new LongAdder()).add(evicted);
        }
    }

    private static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        return t;
    }

    private Instance newInstance(int i, String storeUri, String uri) {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RecordingRemoteStore store = new RecordingRemoteStore(
                RedisRemoteStore.builder().uri(storeUri).keyPrefix(PREFIX).build(), history);
        AtomicReference<FunctionCounter> flushes = new AtomicReference<>();
        RecordingBus bus = new RecordingBus(
                RedisInvalidationBus.create(uri, PREFIX + "invalidations"),
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
        Instance in = new Instance(i, cache, store, bus, flushes, readsInFlight);
        return in;
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
        long version = source[Integer.parseInt(key.substring(1))].get();
        TimeUnit.MILLISECONDS.sleep(ThreadLocalRandom.current().nextInt(0, 20)); // the database's latency
        String origin = (background ? "B" : "L") + instance + "." + loadIds.incrementAndGet();
        history.loads.add(new History.Load(origin, instance, key, version, start, history.now()));
        return version + "|" + origin;
    }

    private void work(Random random) {
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
            synchronized (unexpected) {
                unexpected.add(Thread.currentThread().getName() + " died: " + e);
            }
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
                note("read of " + key + " on i" + in.index + " failed with " + cause);
            }
            count(async ? "getAsync.failed" : "get.failed");
            history.reads.add(new History.Read(in.index, key, start, history.now(), -1, "failed", flushes, 0));
            return;
        } finally {
            readers.decrementAndGet();
        }
        long end = history.now();
        long sourceAtEnd = source[k].get();
        count(async ? "getAsync" : "get");
        if (value == null) {
            note("read of " + key + " on i" + in.index + " returned null; the loader never does");
            return;
        }
        int bar = value.indexOf('|');
        history.reads.add(new History.Read(
                in.index,
                key,
                start,
                end,
                Long.parseLong(value.substring(0, bar)),
                value.substring(bar + 1),
                flushes,
                sourceAtEnd));
    }

    private void write(Instance in, int k, History.WriteKind kind) {
        String key = key(k);
        ReentrantLock lock = settings.racingWrites() ? null : writeLocks[k];
        if (lock != null) {
            lock.lock();
        }
        try {
            long id = writeIds.incrementAndGet();
            long start = history.now();
            long version = source[k].incrementAndGet();
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
            count(kind == History.WriteKind.PUT ? "put" : "invalidate");
            if (!l2Ok) {
                count((kind == History.WriteKind.PUT ? "put" : "invalidate") + ".l2Failed");
            }
            history.writes.add(new History.Write(
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
        count("invalidateAll");
        history.clears.add(new History.Clear(in.index, start, end, ok));
    }

    private void note(String what) {
        synchronized (unexpected) {
            unexpected.add(String.format("t=%.3fs %s", history.now() / 1e9, what));
        }
    }

    /** Polls every bus's {@code isSubscribed()} and records each change. */
    private void monitorBuses() {
        boolean[] last = new boolean[instances.size()];
        for (int i = 0; i < last.length; i++) {
            last[i] = instances.get(i).bus.isSubscribed();
            history.busStates.add(new History.BusState(i, last[i], history.now()));
        }
        try {
            while (!stopping) {
                for (int i = 0; i < last.length; i++) {
                    boolean now = instances.get(i).bus.isSubscribed();
                    if (now != last[i]) {
                        last[i] = now;
                        history.busStates.add(new History.BusState(i, now, history.now()));
                    }
                }
                TimeUnit.MILLISECONDS.sleep(2); // polling interval of the monitor
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Every 200 ms, maybe one fault, as the seed decides. */
    private void injectFaults(OwnedRedis redis, Random random) {
        try {
            TimeUnit.MILLISECONDS.sleep(500); // let the instances warm up first
            while (!stopping) {
                TimeUnit.MILLISECONDS.sleep(200); // the fault clock's tick
                int roll = random.nextInt(1000);
                long start = history.now();
                try {
                    if (roll < 15 && settings.fault("restart")) {
                        int down = 100 + random.nextInt(700);
                        addEvictions(redis);
                        redis.restart(Duration.ofMillis(down));
                        history.faults.add(new History.Fault("restart", start, history.now()));
                        count("fault.restart");
                    } else if (roll < 75 && settings.fault("pubsub")) {
                        long killed = redis.run(c -> c.clientKill(KillArgs.Builder.typePubsub()));
                        history.faults.add(new History.Fault("pubsub-kill", start, history.now()));
                        count("fault.pubsubKill");
                        counts.computeIfAbsent("fault.pubsubConnectionsKilled", w -> new LongAdder())
                                .add(killed);
                    } else if (roll >= 140 && roll < 170 && settings.fault("partition")) {
                        int victim = random.nextInt(storeProxies.size());
                        int cutFor = 200 + random.nextInt(1000);
                        storeProxies.get(victim).cut();
                        TimeUnit.MILLISECONDS.sleep(cutFor); // a fault: the partition lasts this long
                        storeProxies.get(victim).restore();
                        history.faults.add(new History.Fault("partition-i" + victim, start, history.now()));
                        count("fault.storePartition");
                    } else if (roll < 140 && settings.fault("slow")) {
                        redis.run(c -> c.dispatch(
                                CommandType.DEBUG,
                                new StatusOutput<>(StringCodec.UTF8),
                                new CommandArgs<>(StringCodec.UTF8).add("SLEEP").add("0.3")));
                        history.faults.add(new History.Fault("slow", start, history.now()));
                        count("fault.slow");
                    }
                } catch (RuntimeException e) {
                    count("fault.failedToInject");
                    note("fault not injected: " + e);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Filler writes past the caches (8 KiB values, no TTL), in bursts the seed decides, so that the
     * small {@code maxmemory} makes {@code allkeys-lru} evict cache values and version tombstones.
     */
    private void pressure(OwnedRedis redis, Random random) {
        RedisClient client = RedisClient.create("redis://127.0.0.1:" + redis.port());
        client.setOptions(ClientOptions.builder().autoReconnect(true).build());
        String payload = "x".repeat(8192);
        StatefulRedisConnection<String, String> connection = null;
        long n = 0;
        try {
            while (!stopping) {
                int burst = random.nextInt(4) == 0 ? 40 + random.nextInt(80) : 0;
                for (int i = 0; i < burst && !stopping; i++) {
                    try {
                        if (connection == null) {
                            connection = client.connect();
                            connection.setTimeout(Duration.ofSeconds(1));
                        }
                        connection.sync().set("filler:" + (n++), payload);
                        count("pressure.fillerWrites");
                    } catch (RuntimeException e) {
                        count("pressure.fillerWritesFailed");
                    }
                }
                TimeUnit.MILLISECONDS.sleep(100); // paces the bursts
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (connection != null) {
                connection.close();
            }
            client.shutdown(0, 1, TimeUnit.SECONDS);
        }
    }

    /** Redis's {@code evicted_keys} since its last start, or -1 if it does not answer. */
    static long evictedKeys(OwnedRedis redis) {
        try {
            String stats = redis.run(c -> c.info("stats"));
            for (String line : stats.split("\r?\n")) {
                if (line.startsWith("evicted_keys:")) {
                    return Long.parseLong(
                            line.substring("evicted_keys:".length()).trim());
                }
            }
        } catch (RuntimeException e) {
            // reported as unknown
        }
        return -1;
    }
}
