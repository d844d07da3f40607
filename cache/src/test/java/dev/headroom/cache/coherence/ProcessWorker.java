package dev.headroom.cache.coherence;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One worker process of {@link CoherenceProcesses}: one {@link dev.headroom.cache.TieredCache} instance (its store
 * through the coordinator's {@link dev.headroom.testing.TcpProxy} for that worker, its bus straight
 * to the coordinator's Redis), the seeded operations of {@link Workload} on {@code coherence.threads}
 * threads against the shared {@link PostgresSource}, its history appended to {@code i<n>.history}
 * in the run's directory as it happens. Writes {@code i<n>.ready} once it is working; stops when its
 * standard input closes (the coordinator closes it, or dies), then records its counts and exits 0.
 *
 * <p>Arguments: {@code dir instance origin storeUri busUri pgUrl table seed sabotage} ({@code origin}:
 * the coordinator's {@code System.nanoTime()} at the run's start, which on Linux HotSpot reads
 * {@code CLOCK_MONOTONIC}, the same clock in every process of the machine; {@code sabotage}: {@code
 * none} or a comma-separated list, see {@link Settings#withSabotage}). Exits 2 with a message on
 * standard error when PostgreSQL or Redis cannot be reached.
 */
final class ProcessWorker {

    private ProcessWorker() {}

    static Path historyFile(Path dir, int instance) {
        return dir.resolve("i" + instance + ".history");
    }

    static Path readyFile(Path dir, int instance) {
        return dir.resolve("i" + instance + ".ready");
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 9) {
            System.err.println("usage: ProcessWorker dir instance origin storeUri busUri pgUrl table seed sabotage");
            System.exit(64);
        }
        Path dir = Path.of(args[0]);
        int instance = Integer.parseInt(args[1]);
        long origin = Long.parseLong(args[2]);
        String storeUri = args[3];
        String busUri = args[4];
        long seed = Long.parseLong(args[7]);
        Settings settings = Settings.of(seed, Duration.ZERO);
        if (!args[8].equals("none")) {
            settings = settings.withSabotage(args[8].split(","));
        }
        PostgresSource source;
        try {
            source = PostgresSource.open(args[5], args[6]);
        } catch (IllegalStateException e) {
            System.err.println("coherence worker i" + instance + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        try (HistoryFile file = new HistoryFile(historyFile(dir, instance))) {
            History history = new History(origin, file);
            Tally tally = new Tally(history::now, file::unexpected);
            // write ids of instance n: from (n + 1) << 40, so a put's origin names one write in the run
            Workload workload = new Workload(settings, history, tally, source, (instance + 1L) << 40);
            try {
                workload.addInstance(instance, storeUri, busUri);
            } catch (RuntimeException e) {
                System.err.println("coherence worker i" + instance + ": cannot reach the coordinator's redis-server ("
                        + storeUri + " for the store, " + busUri + " for the bus): " + e
                        + "; the coordinator starts it (redis-server on PATH: apt-get install redis-server)");
                System.exit(2);
                return;
            }
            List<Thread> threads = new ArrayList<>();
            threads.add(CoherenceRun.daemon("coherence-bus-monitor", workload::monitorBuses));
            for (int t = 0; t < settings.threads(); t++) {
                Random random = new Random(seed * 1_000_003L + instance * 1_000L + t);
                threads.add(
                        CoherenceRun.daemon("coherence-worker-i" + instance + "-" + t, () -> workload.work(random)));
            }
            threads.forEach(Thread::start);
            Files.createFile(readyFile(dir, instance));
            awaitEndOfInput(System.in);
            workload.stop();
            CoherenceRun.joinAll(threads, tally);
            workload.closeInstances();
            tally.counts.forEach((name, n) -> file.count(name, n.sum()));
        } finally {
            source.close();
        }
        System.exit(0); // Lettuce's and the cache's non-daemon threads may linger
    }

    private static void awaitEndOfInput(InputStream in) throws IOException {
        byte[] buffer = new byte[64];
        while (in.read(buffer) >= 0) {
            // the coordinator sends nothing; it closes the stream to stop the worker
        }
    }
}
