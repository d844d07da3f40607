package dev.headroom.db.ryw;

import static org.awaitility.Awaitility.await;

import dev.headroom.db.RoutingDataSource;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One worker process of the separate-JVM checker: one router; writer threads write through it and
 * post each (key, version, token) to a random worker's box in the mailbox table on the primary (test
 * plumbing, read and written on the primary directly); reader threads take their worker's mail and
 * read each row through the router with the token, appending each read to this worker's history
 * file. It talks to the coordinator with files in a shared directory: {@code ready-i} once its
 * router serves from the replica; it starts on {@code go}; writes until its quota or {@code stop};
 * says {@code written-i}; and once {@code drain} exists and its box is empty writes {@code
 * metrics-i} and exits 0.
 *
 * <p>Arguments: directory, index, processes, primary URL, replica URL, seed, writes (0: until
 * {@code stop}), and {@code sabotage} to read without the token (the checker's self-test).
 */
final class RywWorker {

    private static final int WRITERS = 2;
    private static final int READERS = 2;
    private static final String POST = "INSERT INTO ryw_mailbox (to_worker, key, version, token) VALUES (?, ?, ?, ?)";
    private static final String TAKE = "DELETE FROM ryw_mailbox WHERE id IN (SELECT id FROM ryw_mailbox"
            + " WHERE to_worker = ? ORDER BY id LIMIT 8 FOR UPDATE SKIP LOCKED) RETURNING key, version, token";

    private final Path dir;
    private final int index;
    private final int processes;
    private final String primaryUrl;
    private final long seed;
    private final long quota;
    private final boolean sabotage;
    private final RoutingDataSource router;
    private final BufferedWriter history;
    private final ReentrantLock historyLock = new ReentrantLock();

    private RywWorker(String[] a, SimpleMeterRegistry registry) throws IOException {
        this.dir = Path.of(a[0]);
        this.index = Integer.parseInt(a[1]);
        this.processes = Integer.parseInt(a[2]);
        this.primaryUrl = a[3];
        this.seed = Long.parseLong(a[5]);
        this.quota = Long.parseLong(a[6]);
        this.sabotage = a[7].equals("sabotage");
        this.router = RywChecker.router("ryw-p" + index, primaryUrl, a[4], registry);
        this.history = Files.newBufferedWriter(historyFile(dir, index), StandardCharsets.UTF_8);
    }

    static Path historyFile(Path dir, int index) {
        return dir.resolve("history-" + index);
    }

    static Path metricsFile(Path dir, int index) {
        return dir.resolve("metrics-" + index);
    }

    public static void main(String[] args) throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RywWorker w = new RywWorker(args, registry);
        try {
            w.run();
            StringBuilder metrics = new StringBuilder();
            for (Map.Entry<String, Long> e :
                    RywChecker.tokenReads(List.of(registry)).entrySet()) {
                metrics.append(e.getKey()).append('=').append(e.getValue()).append('\n');
            }
            Files.writeString(metricsFile(w.dir, w.index), metrics.toString());
        } finally {
            w.router.close();
        }
        System.exit(0);
    }

    private void run() throws Exception {
        await("router serves from the owned replica")
                .atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> router.isServing("owned"));
        Files.createFile(dir.resolve("ready-" + index));
        await("go")
                .atMost(Duration.ofSeconds(120))
                .pollInterval(Duration.ofMillis(10))
                .until(() -> Files.exists(dir.resolve("go")));
        AtomicLong claimed = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
        for (int t = 0; t < WRITERS; t++) {
            Random random = new Random(seed * 1_000_003L + index * 100L + t);
            threads.add(thread("writer-" + t, failures, () -> write(random, claimed)));
        }
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < READERS; t++) {
            String name = "p" + index + "r" + t;
            readers.add(thread("reader-" + t, failures, () -> read(name)));
        }
        threads.forEach(Thread::start);
        readers.forEach(Thread::start);
        for (Thread t : threads) {
            t.join();
        }
        Files.createFile(dir.resolve("written-" + index));
        for (Thread t : readers) {
            t.join();
        }
        history.close();
        if (!failures.isEmpty()) {
            IllegalStateException e = new IllegalStateException("worker " + index + " failed");
            failures.forEach(e::addSuppressed);
            throw e;
        }
    }

    private interface Body {
        void run() throws Exception;
    }

    private static Thread thread(String name, List<Throwable> failures, Body body) {
        return new Thread(
                () -> {
                    try {
                        body.run();
                    } catch (Exception | Error e) {
                        failures.add(e);
                    }
                },
                name);
    }

    private void write(Random random, AtomicLong claimed) throws Exception {
        try (Connection mail = DriverManager.getConnection(primaryUrl);
                PreparedStatement post = mail.prepareStatement(POST)) {
            while ((quota == 0 || claimed.getAndIncrement() < quota) && !Files.exists(dir.resolve("stop"))) {
                Rows.Handoff h = Rows.write(router, random.nextInt(Settings.KEYS));
                post.setInt(1, random.nextInt(processes));
                post.setInt(2, h.key());
                post.setLong(3, h.version());
                post.setString(4, h.token());
                post.executeUpdate();
                if (random.nextInt(4) == 0) {
                    TimeUnit.MILLISECONDS.sleep(random.nextInt(3)); // seeded think-time
                }
            }
        }
    }

    private void read(String name) throws Exception {
        try (Connection mail = DriverManager.getConnection(primaryUrl);
                PreparedStatement take = mail.prepareStatement(TAKE)) {
            take.setInt(1, index);
            while (true) {
                boolean last = Files.exists(dir.resolve("drain")); // every write is in the mailbox by then
                List<Rows.Handoff> batch = new ArrayList<>();
                try (ResultSet rs = take.executeQuery()) {
                    while (rs.next()) {
                        batch.add(new Rows.Handoff(rs.getInt(1), rs.getLong(2), rs.getString(3)));
                    }
                }
                for (Rows.Handoff h : batch) {
                    append(Rows.read(router, name, h, sabotage));
                }
                if (batch.isEmpty()) {
                    if (last) {
                        return;
                    }
                    TimeUnit.MILLISECONDS.sleep(5); // polling interval of an empty box
                }
            }
        }
    }

    private void append(ReadRecord r) throws IOException {
        historyLock.lock();
        try {
            history.write(r.line());
            history.newLine();
        } finally {
            historyLock.unlock();
        }
    }
}
