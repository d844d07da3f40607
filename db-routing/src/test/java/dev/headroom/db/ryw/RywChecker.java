package dev.headroom.db.ryw;

import static org.awaitility.Awaitility.await;

import dev.headroom.db.RoutingDataSource;
import dev.headroom.testing.OwnedReplica;
import dev.headroom.testing.TestDatabase;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one-JVM read-your-writes checker: several routers, each with its own pools and all with the
 * same test-owned replica, written through by writer threads that hand each write's (key, version,
 * token) to a random reader thread of a random router; replay paused and resumed and the replica
 * restarted meanwhile. The history of reads is then checked for stale ones.
 */
final class RywChecker {

    static final int ROUTERS = 3;
    private static final int WRITERS_PER_ROUTER = 2;
    private static final int READERS_PER_ROUTER = 2;

    /** How the readers read: with the token handed to them, or (sabotage) without it while replay is paused. */
    enum Mode {
        TOKEN,
        SABOTAGE_IGNORE_TOKEN
    }

    private RywChecker() {}

    static RoutingDataSource router(String name, String primaryUrl, String replicaUrl, SimpleMeterRegistry registry) {
        return RoutingDataSource.builder(name)
                .primary(primaryUrl)
                .replica("owned", replicaUrl)
                .probeInterval(Duration.ofMillis(100))
                // long enough that paused replay is met by the token path, not by ejection for lag
                .maxLag(Duration.ofSeconds(30))
                .maxTokenWait(Duration.ofMillis(50))
                .poolConfig(c -> c.setMaximumPoolSize(4))
                .meterRegistry(registry)
                .build();
    }

    static Map<String, Long> tokenReads(List<SimpleMeterRegistry> registries) {
        Map<String, Long> sums = new HashMap<>();
        for (SimpleMeterRegistry r : registries) {
            for (Counter c : r.find("headroom.db.token.reads").counters()) {
                sums.merge(c.getId().getTag("result"), (long) c.count(), Long::sum);
            }
            for (Counter c : r.find("headroom.db.connections").counters()) {
                sums.merge("connections." + c.getId().getTag("target"), (long) c.count(), Long::sum);
            }
        }
        return sums;
    }

    static Outcome run(Settings settings, Mode mode, TestDatabase db, OwnedReplica owned) throws Exception {
        db.execute(Rows.CREATE);
        owned.awaitCaughtUp(Duration.ofSeconds(60));
        List<SimpleMeterRegistry> registries = new ArrayList<>();
        List<RoutingDataSource> routers = new ArrayList<>();
        try {
            for (int i = 0; i < ROUTERS; i++) {
                SimpleMeterRegistry registry = new SimpleMeterRegistry();
                registries.add(registry);
                routers.add(router("ryw" + i, db.jdbcUrl(), owned.jdbcUrl(db.schema()), registry));
            }
            await("every router serves reads from the owned replica")
                    .atMost(Duration.ofSeconds(60))
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> routers.stream().allMatch(r -> r.isServing("owned")));
            return workload(settings, mode, routers, registries, owned);
        } finally {
            for (RoutingDataSource r : routers) {
                r.close();
            }
        }
    }

    private static Outcome workload(
            Settings settings,
            Mode mode,
            List<RoutingDataSource> routers,
            List<SimpleMeterRegistry> registries,
            OwnedReplica owned)
            throws Exception {
        boolean sabotage = mode == Mode.SABOTAGE_IGNORE_TOKEN;
        ReplicaFaults faults = new ReplicaFaults(owned, settings.seed());
        List<BlockingQueue<Rows.Handoff>> inboxes = new ArrayList<>();
        for (int i = 0; i < ROUTERS * READERS_PER_ROUTER; i++) {
            inboxes.add(new LinkedBlockingQueue<>());
        }
        AtomicLong claimed = new AtomicLong();
        AtomicLong committed = new AtomicLong();
        AtomicBoolean writing = new AtomicBoolean(true);
        Queue<ReadRecord> history = new ConcurrentLinkedQueue<>();
        Queue<Throwable> unexpected = new ConcurrentLinkedQueue<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> writers = new ArrayList<>();
        List<Thread> readers = new ArrayList<>();
        long begin = System.nanoTime();
        for (int w = 0; w < ROUTERS * WRITERS_PER_ROUTER; w++) {
            Random random = new Random(settings.seed() * 1_000_003L + w);
            writers.add(new Thread(
                    () -> {
                        try {
                            start.await();
                            while (settings.more(claimed.getAndIncrement(), begin)) {
                                RoutingDataSource router = routers.get(random.nextInt(routers.size()));
                                Rows.Handoff h = Rows.write(router, random.nextInt(Settings.KEYS));
                                committed.incrementAndGet();
                                inboxes.get(random.nextInt(inboxes.size())).add(h);
                                if (random.nextInt(4) == 0) {
                                    TimeUnit.MILLISECONDS.sleep(random.nextInt(3)); // seeded think-time
                                }
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        } catch (SQLException | RuntimeException e) {
                            unexpected.add(e);
                        }
                    },
                    "ryw-writer-" + w));
        }
        for (int r = 0; r < inboxes.size(); r++) {
            BlockingQueue<Rows.Handoff> inbox = inboxes.get(r);
            RoutingDataSource router = routers.get(r % routers.size());
            String name = "r" + r + "@" + (r % routers.size());
            readers.add(new Thread(
                    () -> {
                        try {
                            start.await();
                            while (true) {
                                Rows.Handoff h = inbox.poll(20, TimeUnit.MILLISECONDS);
                                if (h != null) {
                                    history.add(Rows.read(router, name, h, sabotage));
                                } else if (!writing.get() && inbox.isEmpty()) {
                                    return;
                                }
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        } catch (RuntimeException e) {
                            unexpected.add(e);
                        }
                    },
                    "ryw-reader-" + r));
        }
        writers.forEach(Thread::start);
        readers.forEach(Thread::start);
        if (sabotage) {
            faults.pause(); // the replica lags throughout; only the token keeps a read from seeing it
        }
        start.countDown();
        Thread stopWriting = new Thread(() -> {
            for (Thread t : writers) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            writing.set(false);
        });
        stopWriting.start();
        try {
            if (sabotage) {
                stopWriting.join();
            } else {
                int[] restarts = {0};
                faults.run(() -> !writing.get(), () -> {
                    boolean due = settings.restartDue(restarts[0], committed.get(), begin);
                    if (due) {
                        restarts[0]++;
                    }
                    return due;
                });
            }
        } finally {
            faults.resume();
            stopWriting.join();
            for (Thread t : readers) {
                t.join();
            }
        }
        if (!unexpected.isEmpty()) {
            AssertionError e = new AssertionError("unexpected errors in the workload, seed " + settings.seed());
            unexpected.forEach(e::addSuppressed);
            throw e;
        }
        return Outcome.check(
                sabotage ? "one JVM, sabotage: readers ignore the token" : "one JVM, " + ROUTERS + " routers",
                settings.seed(),
                committed.get(),
                history,
                faults.counts(),
                tokenReads(registries),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin));
    }
}
