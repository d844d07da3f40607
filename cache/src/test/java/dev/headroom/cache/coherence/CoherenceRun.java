package dev.headroom.cache.coherence;

import dev.headroom.cache.TieredCache;
import dev.headroom.testing.TcpProxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Drives one seeded run in one JVM: several {@link TieredCache} instances, each with its own Redis
 * store and bus connections to a Redis of the checker's own, random reads and writes on worker threads
 * against a versioned source of truth in memory, and random faults; everything is recorded in a
 * {@link History}. {@link CoherenceProcesses} is the variant with one instance per process.
 *
 * <p>What the seed decides: each worker's sequence of operations (kind, instance, key) and the fault
 * thread's sequence of faults. What it cannot: the interleavings, and how many operations fit in the
 * time.
 */
final class CoherenceRun {

    final Settings settings;
    final History history = new History();
    final Tally tally = new Tally(history::now);

    private final Workload workload;
    /** Per instance, in front of its store's connection only (its bus connects directly). */
    private final List<TcpProxy> storeProxies = new ArrayList<>();

    CoherenceRun(Settings settings) {
        this.settings = settings;
        this.workload = new Workload(settings, history, tally, new InMemorySource(settings.keys()), 0);
    }

    /** Runs for the settings' duration against {@code redis}, then closes every instance. */
    void run(OwnedRedis redis) throws InterruptedException {
        for (int i = 0; i < settings.instances(); i++) {
            TcpProxy proxy = TcpProxy.start("127.0.0.1", redis.port());
            storeProxies.add(proxy);
            workload.addInstance(i, "redis://127.0.0.1:" + proxy.port(), redis.uri());
        }
        Faults faults = new Faults(settings, history, tally, redis, storeProxies, workload::stopping);
        List<Thread> threads = new ArrayList<>();
        threads.add(daemon("coherence-bus-monitor", workload::monitorBuses));
        for (int t = 0; t < settings.threads(); t++) {
            int worker = t;
            threads.add(daemon(
                    "coherence-worker-" + t, () -> workload.work(new Random(settings.seed() * 1_000_003L + worker))));
        }
        threads.add(daemon("coherence-faults", () -> faults.inject(new Random(settings.seed() ^ 0x5EEDFA17L))));
        if (settings.fault("pressure")) {
            threads.add(daemon("coherence-pressure", () -> faults.pressure(new Random(settings.seed() ^ 0xF111E5L))));
        }
        threads.forEach(Thread::start);
        long end = System.nanoTime() + settings.duration().toNanos();
        while (System.nanoTime() - end < 0) {
            TimeUnit.MILLISECONDS.sleep(Math.min(200, TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime()) + 1));
        }
        workload.stop();
        joinAll(threads, tally);
        faults.addEvictions();
        workload.closeInstances();
        storeProxies.forEach(TcpProxy::close);
    }

    static Thread daemon(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        return t;
    }

    /** Waits for each thread to end, up to 30 s each; one that does not is unexpected. */
    static void joinAll(List<Thread> threads, Tally tally) throws InterruptedException {
        for (Thread t : threads) {
            t.join(TimeUnit.SECONDS.toMillis(30));
            if (t.isAlive()) {
                tally.unexpected(t.getName() + " did not stop within 30 s");
            }
        }
    }
}
