package dev.headroom.db.ryw;

import static org.awaitility.Awaitility.await;

import dev.headroom.testing.OwnedReplica;
import dev.headroom.testing.TestDatabase;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The separate-JVM read-your-writes checker: worker processes ({@link RywWorker}), one router each,
 * all with the same test-owned replica, hand tokens to each other through a mailbox table on the
 * primary; this coordinator runs the faults on the replica, then merges the workers' history files
 * and checks them.
 */
final class RywProcesses {

    private static final String MAILBOX = "CREATE TABLE ryw_mailbox (id bigserial PRIMARY KEY,"
            + " to_worker int NOT NULL, key int NOT NULL, version bigint NOT NULL, token text NOT NULL)";

    private RywProcesses() {}

    static Outcome run(Settings settings, int processes, TestDatabase db, OwnedReplica owned) throws Exception {
        return run(settings, processes, RywChecker.Mode.TOKEN, db, owned);
    }

    static Outcome run(Settings settings, int processes, RywChecker.Mode mode, TestDatabase db, OwnedReplica owned)
            throws Exception {
        boolean sabotage = mode == RywChecker.Mode.SABOTAGE_IGNORE_TOKEN;
        db.execute(Rows.CREATE, MAILBOX);
        owned.awaitCaughtUp(Duration.ofSeconds(60));
        Path dir = Files.createTempDirectory(Path.of("target"), "ryw-processes-");
        List<Process> workers = new ArrayList<>();
        try {
            for (int i = 0; i < processes; i++) {
                workers.add(launch(settings, processes, sabotage, i, dir, db, owned));
            }
            for (int i = 0; i < processes; i++) {
                int index = i;
                await("ryw worker " + i + " ready")
                        .atMost(Duration.ofSeconds(90))
                        .pollInterval(Duration.ofMillis(20))
                        .until(() -> {
                            requireAlive(workers.get(index), index, dir);
                            return Files.exists(dir.resolve("ready-" + index));
                        });
            }
            long begin = System.nanoTime();
            ReplicaFaults faults = new ReplicaFaults(owned, settings.seed());
            BooleanSupplier allWritten = () -> {
                if (settings.timed()
                        && System.nanoTime() - begin >= settings.duration().toNanos()
                        && !Files.exists(dir.resolve("stop"))) {
                    touch(dir.resolve("stop"));
                }
                for (int i = 0; i < processes; i++) {
                    requireAlive(workers.get(i), i, dir);
                    if (!Files.exists(dir.resolve("written-" + i))) {
                        return false;
                    }
                }
                return true;
            };
            try {
                if (sabotage) {
                    faults.pause(); // the replica lags throughout; only the token keeps a read from seeing it
                    Files.createFile(dir.resolve("go"));
                    await("ryw workers written")
                            .atMost(Duration.ofMinutes(10))
                            .pollInterval(Duration.ofMillis(20))
                            .until(allWritten::getAsBoolean);
                } else {
                    Files.createFile(dir.resolve("go"));
                    int[] restarts = {0};
                    faults.run(allWritten, () -> {
                        boolean due = settings.restartDue(restarts[0], committed(db), begin);
                        if (due) {
                            restarts[0]++;
                        }
                        return due;
                    });
                }
            } finally {
                faults.resume();
            }
            Files.createFile(dir.resolve("drain"));
            for (int i = 0; i < processes; i++) {
                Process p = workers.get(i);
                if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
                    throw new AssertionError("ryw worker " + i + " did not finish cleanly, seed " + settings.seed()
                            + ":\n" + tail(dir, i));
                }
            }
            List<ReadRecord> history = new ArrayList<>();
            Map<String, Long> metrics = new HashMap<>();
            for (int i = 0; i < processes; i++) {
                for (String line : Files.readAllLines(RywWorker.historyFile(dir, i), StandardCharsets.UTF_8)) {
                    history.add(ReadRecord.parse(line));
                }
                for (String line : Files.readAllLines(RywWorker.metricsFile(dir, i), StandardCharsets.UTF_8)) {
                    String[] kv = line.split("=");
                    metrics.merge(kv[0], Long.parseLong(kv[1]), Long::sum);
                }
            }
            return Outcome.check(
                    (sabotage ? "sabotage, readers ignore the token, " : "") + "separate processes: " + processes
                            + " worker JVMs",
                    settings.seed(),
                    committed(db),
                    history,
                    faults.counts(),
                    metrics,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - begin));
        } finally {
            for (Process p : workers) {
                if (p.isAlive()) {
                    p.destroyForcibly();
                }
            }
        }
    }

    private static Process launch(
            Settings settings,
            int processes,
            boolean sabotage,
            int index,
            Path dir,
            TestDatabase db,
            OwnedReplica owned)
            throws IOException {
        String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
        long quota = settings.timed() ? 0 : Math.max(1, settings.writes() / processes);
        List<String> command = List.of(
                java,
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                System.getProperty("java.class.path"),
                RywWorker.class.getName(),
                dir.toString(),
                Integer.toString(index),
                Integer.toString(processes),
                db.jdbcUrl(),
                owned.jdbcUrl(db.schema()),
                Long.toString(settings.seed()),
                Long.toString(quota),
                sabotage ? "sabotage" : "token");
        return new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("worker-" + index + ".log").toFile())
                .start();
    }

    /** Writes committed so far: every write adds one to a row's version. */
    private static long committed(TestDatabase db) {
        try (Connection c = db.connect();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT coalesce(sum(version), 0) FROM ryw_rows")) {
            rs.next();
            return rs.getLong(1);
        } catch (java.sql.SQLException e) {
            throw new IllegalStateException("cannot count the writes on the primary", e);
        }
    }

    private static void requireAlive(Process p, int index, Path dir) {
        if (!p.isAlive() && p.exitValue() != 0) {
            throw new AssertionError(
                    "ryw worker " + index + " exited with " + p.exitValue() + ":\n" + tail(dir, index));
        }
    }

    private static String tail(Path dir, int index) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("worker-" + index + ".log"), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static void touch(Path file) {
        try {
            Files.createFile(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
