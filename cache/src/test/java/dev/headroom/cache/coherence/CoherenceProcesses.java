package dev.headroom.cache.coherence;

import dev.headroom.testing.TcpProxy;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.awaitility.Awaitility;

/**
 * The separate-process variant of the seeded coherence checker: K {@link ProcessWorker} JVMs, one
 * cache instance each, against one Redis of the checker's own ({@link OwnedRedis}) and one source of
 * truth in PostgreSQL ({@link PostgresSource}, a table of this run's, dropped at the end), with the
 * one-JVM run's Redis faults ({@link Faults}) and, in addition, workers killed with SIGKILL ({@code
 * destroyForcibly}) mid-run and replaced by a new instance: one kill per 30 s of run, at least one
 * (unless told not to kill).
 * The workers' history files are merged into one {@link History} and checked by {@link
 * CoherenceCheck}, which excuses exactly the writes a killed worker left without a recorded return.
 *
 * <p>Timestamps are comparable across the processes because every one stamps with {@code
 * System.nanoTime()} from the coordinator's origin, and on Linux HotSpot that reads {@code
 * CLOCK_MONOTONIC}, one clock for the whole machine. Not thread-safe: one run at a time per object.
 */
final class CoherenceProcesses {

    private final Settings settings;
    private final int processes;
    private final boolean kill;
    private final History history = new History();
    private final Tally tally = new Tally(history::now);
    private final List<Worker> workers = new ArrayList<>();
    /** Per instance index, in front of its store's connection (the partition fault cuts one). */
    private final List<TcpProxy> storeProxies = new CopyOnWriteArrayList<>();

    private volatile boolean stopping;
    /** How long the first workers took to be ready, the replacements (summed), and stopping. */
    private long readyNanos;

    private long replacementReadyNanos;
    private long stopNanos;

    /** A worker process and how it ended. */
    private static final class Worker {
        final int index;
        final Process process;
        final Path log;
        boolean killed;

        Worker(int index, Process process, Path log) {
            this.index = index;
            this.process = process;
            this.log = log;
        }

        /** The last lines of its standard output and error. */
        String tail() {
            try {
                List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
                return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }
    }

    /**
     * @param settings the run; {@code threads} is per worker process
     * @param processes how many workers run at a time
     * @param kill whether to kill workers (one per 30 s of run, at least one) and replace them
     */
    CoherenceProcesses(Settings settings, int processes, boolean kill) {
        if (processes < 2) {
            throw new IllegalArgumentException("processes: at least 2 for a coherence check, got " + processes);
        }
        this.settings = settings;
        this.processes = processes;
        this.kill = kill;
    }

    /** Runs, checks and reports. */
    static CoherenceChecker.Outcome run(Settings settings, int processes, boolean kill)
            throws InterruptedException, IOException {
        return new CoherenceProcesses(settings, processes, kill).runAndCheck();
    }

    private CoherenceChecker.Outcome runAndCheck() throws InterruptedException, IOException {
        long started = System.nanoTime();
        Path dir = Files.createTempDirectory("headroom-coherence-processes-");
        String table = "coherence_source_" + (settings.seed() & Long.MAX_VALUE) + "_"
                + ProcessHandle.current().pid();
        String pgUrl = PostgresSource.url();
        try (OwnedRedis redis = OwnedRedis.start("3mb")) {
            PostgresSource source = PostgresSource.create(pgUrl, table, settings.keys());
            try {
                drive(redis, dir, pgUrl, table);
            } finally {
                source.drop();
                source.close();
            }
        } finally {
            for (Worker w : workers) {
                if (w.process.isAlive()) { // only when the run failed: no worker outlives its coordinator's run
                    w.process.destroyForcibly();
                }
            }
            storeProxies.forEach(TcpProxy::close);
        }
        for (Worker w : workers) {
            merge(dir, w);
        }
        Settings checked = settings.withScale(workers.size(), settings.threads());
        CoherenceCheck check = new CoherenceCheck(checked, history).check();
        String header = String.format(
                "%n=== coherence checker, separate processes: seed %d, %d s of operations (%.1f s in all),"
                        + " %d worker JVMs at a time (%d started, %d killed with SIGKILL and replaced), %d threads each,"
                        + " %d keys, source of truth in PostgreSQL, ttl %d ms + grace %d ms, l2Ttl %d ms, faults %s,"
                        + " racing writes %s; workers ready in %.1f s, replacements in %.1f s, stopped in %.1f s%n",
                settings.seed(),
                settings.duration().toSeconds(),
                (System.nanoTime() - started) / 1e9,
                processes,
                workers.size(),
                history.killed.size(),
                settings.threads(),
                settings.keys(),
                settings.ttl().toMillis(),
                settings.grace().toMillis(),
                settings.l2Ttl().toMillis(),
                CoherenceChecker.faultNames(settings),
                settings.racingWrites(),
                readyNanos / 1e9,
                replacementReadyNanos / 1e9,
                stopNanos / 1e9);
        CoherenceChecker.Outcome outcome = CoherenceChecker.outcome(checked, header, history, tally, check);
        if (outcome.unexpected().isEmpty()) {
            delete(dir);
        } else {
            System.out.println("worker logs and histories kept in " + dir);
        }
        return outcome;
    }

    private void drive(OwnedRedis redis, Path dir, String pgUrl, String table)
            throws InterruptedException, IOException {
        for (int i = 0; i < processes; i++) {
            launch(redis, dir, pgUrl, table);
        }
        long launched = System.nanoTime();
        for (Worker w : workers) {
            awaitReady(dir, w);
        }
        readyNanos = System.nanoTime() - launched;
        Faults faults = new Faults(settings, history, tally, redis, storeProxies, () -> stopping);
        List<Thread> threads = new ArrayList<>();
        threads.add(CoherenceRun.daemon(
                "coherence-faults", () -> faults.inject(new Random(settings.seed() ^ 0x5EEDFA17L))));
        if (settings.fault("pressure")) {
            threads.add(CoherenceRun.daemon(
                    "coherence-pressure", () -> faults.pressure(new Random(settings.seed() ^ 0xF111E5L))));
        }
        threads.forEach(Thread::start);
        long begin = System.nanoTime();
        long length = settings.duration().toNanos();
        int kills = kill ? (int) Math.max(1, settings.duration().toSeconds() / 30) : 0;
        Random victims = new Random(settings.seed() ^ 0x4B111L);
        for (int j = 1; j <= kills; j++) {
            sleepUntil(begin + length * j / (kills + 1)); // the kill schedule, not a synchronisation
            killAndReplace(victims, redis, dir, pgUrl, table);
        }
        sleepUntil(begin + length);
        stopping = true;
        CoherenceRun.joinAll(threads, tally);
        long stopped = System.nanoTime();
        for (Worker w : workers) {
            if (!w.killed) {
                w.process.getOutputStream().close(); // its signal to stop: all at once
            }
        }
        for (Worker w : workers) {
            if (!w.killed) {
                awaitExit(w);
            }
        }
        stopNanos = System.nanoTime() - stopped;
        faults.addEvictions();
    }

    private static void sleepUntil(long nanoTime) throws InterruptedException {
        long left = nanoTime - System.nanoTime();
        if (left > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }

    private void launch(OwnedRedis redis, Path dir, String pgUrl, String table) {
        int index = workers.size();
        TcpProxy proxy = TcpProxy.start("127.0.0.1", redis.port());
        storeProxies.add(proxy);
        String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        List<String> command = List.of(
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                // C1 only: short runs on a few cores spend less on compiling than C2 would win back
                "-XX:TieredStopAtLevel=1",
                "-Dcoherence.keys=" + settings.keys(),
                "-Dcoherence.threads=" + settings.threads(),
                "-Dcoherence.racingWrites=" + settings.racingWrites(),
                "-cp",
                System.getProperty("java.class.path"),
                ProcessWorker.class.getName(),
                dir.toString(),
                Integer.toString(index),
                Long.toString(history.origin),
                "redis://127.0.0.1:" + proxy.port(),
                redis.uri(),
                pgUrl,
                table,
                Long.toString(settings.seed()),
                settings.sabotage().isEmpty() ? "none" : String.join(",", settings.sabotage()));
        Path log = dir.resolve("i" + index + ".log");
        try {
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .start();
            workers.add(new Worker(index, process, log));
            tally.count("workers.started");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start a coherence worker JVM: " + command, e);
        }
    }

    private void awaitReady(Path dir, Worker w) {
        Awaitility.await("coherence worker i" + w.index + " ready")
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> {
                    if (!w.process.isAlive()) {
                        throw new AssertionError("coherence worker i" + w.index + " exited with "
                                + w.process.exitValue() + " before it was ready:\n" + w.tail());
                    }
                    return Files.exists(ProcessWorker.readyFile(dir, w.index));
                });
    }

    private void killAndReplace(Random victims, OwnedRedis redis, Path dir, String pgUrl, String table)
            throws InterruptedException {
        List<Worker> alive = workers.stream().filter(w -> !w.killed).toList();
        Worker victim = alive.get(victims.nextInt(alive.size()));
        long start = history.now();
        victim.process.destroyForcibly();
        if (!victim.process.waitFor(30, TimeUnit.SECONDS)) {
            tally.unexpected("worker i" + victim.index + " outlived SIGKILL by 30 s");
        }
        victim.killed = true;
        history.killed.add(victim.index);
        history.add(new History.Fault("kill-i" + victim.index, start, history.now()));
        tally.count("fault.workerKilled");
        long launched = System.nanoTime();
        launch(redis, dir, pgUrl, table);
        awaitReady(dir, workers.get(workers.size() - 1));
        replacementReadyNanos += System.nanoTime() - launched;
    }

    /** Waits for a worker told to stop to exit. */
    private void awaitExit(Worker w) throws InterruptedException {
        if (!w.process.waitFor(60, TimeUnit.SECONDS)) {
            tally.unexpected("worker i" + w.index + " did not stop within 60 s; killed");
            w.process.destroyForcibly().waitFor();
        } else if (w.process.exitValue() != 0) {
            tally.unexpected("worker i" + w.index + " exited with " + w.process.exitValue() + ":\n" + w.tail());
        }
    }

    private void merge(Path dir, Worker w) throws IOException {
        Path file = ProcessWorker.historyFile(dir, w.index);
        if (!Files.exists(file)) {
            tally.unexpected("worker i" + w.index + " left no history file");
            return;
        }
        HistoryFile.Contents contents = HistoryFile.read(file, history);
        contents.counts().forEach(tally::add);
        contents.unexpected().forEach(tally::unexpected);
        if (contents.truncated()) {
            if (w.killed) {
                tally.count("history.lastLineCutByKill");
            } else {
                tally.unexpected("worker i" + w.index + " was not killed, yet its history ends mid-line");
            }
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }
}
