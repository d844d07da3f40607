package dev.headroom.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A PostgreSQL streaming replica of the local primary that one test owns outright: its own server
 * process, data directory, port and replication slot, with its replication link running through a
 * {@link TcpProxy} so the test can cut and restore replication, restart, crash or promote it
 * without disturbing the shared replica other tests use ({@link TestReplica}).
 *
 * <p>Requirements: the machine's primary on {@code 127.0.0.1:5432} with {@code trust} for user
 * {@code postgres} and a {@code replication} line for {@code 127.0.0.1} in its pg_hba.conf (as
 * {@code scripts/services up} sets it up), the PostgreSQL server binaries under {@code
 * /usr/lib/postgresql/N/bin}, and a JVM running as {@code root} (commands then run as {@code
 * postgres} through {@code runuser}) or as {@code postgres} itself. The data directory lives under
 * {@value #ROOT_DIR}.
 *
 * <p>The replica holds a replication slot on the primary, so the primary keeps the WAL the replica
 * has not received while replication is cut or the replica is stopped; {@link #close()} drops it.
 * A replica that is never closed (a killed JVM) leaves its slot behind and with it the primary's
 * WAL: always use try-with-resources or an {@code @AfterAll}.
 *
 * <p>Thread-safe: lifecycle calls are serialized; queries may run concurrently with them.
 */
public final class OwnedReplica implements AutoCloseable {

    /** Where the replicas' data directories are made, one per replica. */
    public static final String ROOT_DIR = "/var/tmp/headroom-owned-replicas";

    private static final Logger log = LoggerFactory.getLogger(OwnedReplica.class);
    private static final String PRIMARY_HOST = "127.0.0.1";
    private static final int PRIMARY_PORT = 5432;
    private static final String PRIMARY_ADMIN_URL = "jdbc:postgresql://127.0.0.1:5432/postgres";
    private static final String DATABASE = "test";
    private static final Pattern NAME = Pattern.compile("[a-z0-9_]{1,30}");
    private static final Duration BASE_BACKUP_TIMEOUT = Duration.ofSeconds(120);
    private static final Duration SERVER_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration POLL = Duration.ofMillis(20);
    /** Settings a hot standby must have at least as high as its primary, or it refuses to start. */
    private static final List<String> AT_LEAST_PRIMARY = List.of(
            "max_connections",
            "max_worker_processes",
            "max_wal_senders",
            "max_prepared_transactions",
            "max_locks_per_transaction");

    private final String name;
    private final int port;
    private final Path dataDir;
    private final String slot;
    private final TcpProxy proxy;
    private final ReentrantLock lifecycle = new ReentrantLock();
    private volatile boolean cut;
    private volatile boolean promoted;
    private volatile boolean closed;

    private OwnedReplica(String name, int port, TcpProxy proxy) {
        this.name = name;
        this.port = port;
        this.dataDir = Path.of(ROOT_DIR, name + "-" + port);
        this.slot = "headroom_owned_" + name + "_" + port;
        this.proxy = proxy;
    }

    /**
     * Makes a new replica of the local primary and returns once it streams and has replayed
     * everything the primary had written when it was made: takes a base backup into {@value
     * #ROOT_DIR}{@code /<name>-<port>} with a new slot {@code headroom_owned_<name>_<port>}, writes
     * its configuration (hot standby, {@code max_connections} 50 or the primary's if higher, WAL
     * receiver status every 1 s, reconnect every 500 ms, receiver timeout 5 s) and starts it on a
     * free loopback port. Takes seconds, mostly the base backup (its checkpoint and a copy of the
     * whole cluster): about 10 s on a loaded 2-core machine, so share one replica per test class.
     *
     * @param name a short label for the data directory, slot and log lines: 1 to 30 of {@code
     *     [a-z0-9_]}
     * @return the running, caught-up replica; the caller closes it
     * @throws IllegalArgumentException if the name is not such a label
     * @throws ServiceUnavailableException if the local primary does not answer
     * @throws IllegalStateException if the base backup or the server fails, or it does not stream
     *     and catch up within 60 s (the message has the tail of the server's log); whatever was made
     *     is removed again
     */
    public static OwnedReplica create(String name) {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException(
                    "name must be 1 to 30 of [a-z0-9_] (it names a replication slot): '" + name + "'");
        }
        requirePrimary();
        OwnedReplica replica = new OwnedReplica(name, freePort(), TcpProxy.start(PRIMARY_HOST, PRIMARY_PORT));
        try {
            long begin = System.nanoTime();
            replica.make();
            long made = System.nanoTime();
            replica.start();
            log.info(
                    "{}: base backup in {} ms, started and caught up in {} ms",
                    replica,
                    (made - begin) / 1_000_000,
                    (System.nanoTime() - made) / 1_000_000);
            return replica;
        } catch (RuntimeException e) {
            replica.close();
            throw e;
        }
    }

    /** Returns the replica's port on 127.0.0.1. */
    public int port() {
        return port;
    }

    /** Returns the name of the replica's replication slot on the primary. */
    public String slotName() {
        return slot;
    }

    /** Returns a pgjdbc URL for the replica's {@code test} database (user {@code postgres}). */
    public String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE + "?user=postgres";
    }

    /**
     * Returns a pgjdbc URL for the replica's {@code test} database whose connections use a schema.
     *
     * @param schema the schema, e.g. a {@link TestDatabase#schema()}
     * @return the URL with {@code currentSchema} set
     */
    public String jdbcUrl(String schema) {
        return jdbcUrl() + "&currentSchema=" + schema;
    }

    /**
     * Opens a connection to the replica's {@code test} database.
     *
     * @return a new connection; the caller closes it
     * @throws SQLException if the replica refuses (it is stopped, or still starting)
     */
    public Connection connect() throws SQLException {
        return PostgresEndpoint.connect(jdbcUrl());
    }

    /**
     * Cuts the replica off the primary: drops the replication connection and refuses new ones until
     * {@link #restoreReplication()}. The replica keeps serving reads of what it has; the primary
     * keeps the WAL for it in the slot. The WAL receiver notices at once (its connection is closed),
     * at the latest after {@code wal_receiver_timeout} (5 s).
     */
    public void cutReplication() {
        cut = true;
        proxy.cut();
    }

    /** Lets the replica reconnect; it retries every 500 ms and catches up from its slot. */
    public void restoreReplication() {
        cut = false;
        proxy.restore();
    }

    /** Returns whether the replica's WAL receiver is connected and streaming from the primary. */
    public boolean walReceiverStreaming() {
        return "streaming".equals(queryReplica("SELECT status FROM pg_stat_wal_receiver"));
    }

    /** Returns whether the replica is still in recovery, i.e. a standby and not promoted. */
    public boolean inRecovery() {
        return "t".equals(queryReplica("SELECT pg_is_in_recovery()::text").substring(0, 1));
    }

    /**
     * Waits until the replica streams from the primary and has replayed everything the primary had
     * written when this was called.
     *
     * @param timeout the longest to wait
     * @throws org.awaitility.core.ConditionTimeoutException if it has not in time (replication cut,
     *     replica stopped or promoted)
     */
    public void awaitCaughtUp(Duration timeout) {
        String target = queryPrimary("SELECT pg_current_wal_lsn()::text");
        Awaitility.await(this + " streams and replays up to " + target)
                .atMost(timeout)
                .pollInterval(POLL)
                .ignoreExceptions()
                .until(() -> "1"
                                .equals(queryPrimary(
                                        "SELECT count(*)::text FROM pg_stat_replication"
                                                + " WHERE application_name = ? AND state = 'streaming'",
                                        slot))
                        && "true"
                                .equals(queryReplica(
                                        "SELECT (pg_last_wal_replay_lsn() >= '" + target + "'::pg_lsn)::text")));
    }

    /**
     * Restarts the replica ({@code pg_ctl restart -m fast}) and waits until it accepts connections
     * and, unless replication is cut or it was promoted, streams and has caught up.
     *
     * @throws IllegalStateException if it does not come back (the message has its log's tail)
     */
    public void restart() {
        lifecycle.lock();
        try {
            requireOpen();
            pgCtl("restart", "-m", "fast", "-w", "-t", seconds(SERVER_TIMEOUT), "-l", logFile());
            awaitReady();
        } finally {
            lifecycle.unlock();
        }
    }

    /** Stops the replica the way a crash would ({@code pg_ctl stop -m immediate}); {@link #start()} brings it back. */
    public void stopImmediately() {
        lifecycle.lock();
        try {
            requireOpen();
            pgCtl("stop", "-m", "immediate", "-w");
        } finally {
            lifecycle.unlock();
        }
    }

    /**
     * Starts the stopped replica and waits until it accepts connections and, unless replication is
     * cut or it was promoted, streams and has caught up.
     *
     * @throws IllegalStateException if it does not start (the message has its log's tail and says
     *     how to start the primary)
     */
    public void start() {
        lifecycle.lock();
        try {
            requireOpen();
            pgCtl("start", "-w", "-t", seconds(SERVER_TIMEOUT), "-l", logFile());
            awaitReady();
        } finally {
            lifecycle.unlock();
        }
    }

    /**
     * Promotes the replica to a primary of its own ({@code pg_ctl promote}) and waits until it
     * leaves recovery. It no longer follows the primary; its slot there stays until {@link #close()}.
     */
    public void promote() {
        lifecycle.lock();
        try {
            requireOpen();
            pgCtl("promote", "-w", "-t", seconds(SERVER_TIMEOUT));
            promoted = true;
            Awaitility.await(this + " leaves recovery")
                    .atMost(SERVER_TIMEOUT)
                    .pollInterval(POLL)
                    .ignoreExceptions()
                    .until(() -> !inRecovery());
        } finally {
            lifecycle.unlock();
        }
    }

    /**
     * Stops the replica immediately, drops its slot on the primary (also after {@link #promote()}),
     * deletes its data directory and closes the proxy. Idempotent; a step that fails is logged and
     * the others still run, so it never throws.
     */
    @Override
    public void close() {
        lifecycle.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (Files.exists(dataDir.resolve("postmaster.pid"))) {
                quietly("stop the server", () -> pgCtl("stop", "-m", "immediate", "-w"));
            }
            quietly("close the proxy", proxy::close);
            quietly("drop the replication slot " + slot, this::dropSlot);
            quietly("delete " + dataDir, () -> deleteTree(dataDir));
        } finally {
            lifecycle.unlock();
        }
    }

    @Override
    public String toString() {
        return "OwnedReplica[" + name + ", 127.0.0.1:" + port + ", slot " + slot + "]";
    }

    private void make() {
        try {
            Path root = Path.of(ROOT_DIR);
            Files.createDirectories(root);
            PostgresTool.giveToPostgres(root);
            deleteTree(dataDir); // a leftover of an earlier run on the same port
            PostgresTool.run(
                    BASE_BACKUP_TIMEOUT,
                    "pg_basebackup",
                    "-h",
                    PRIMARY_HOST,
                    "-p",
                    Integer.toString(PRIMARY_PORT),
                    "-U",
                    "postgres",
                    "-D",
                    dataDir.toString(),
                    "-X",
                    "stream",
                    "-C",
                    "-S",
                    slot,
                    "-c",
                    "fast",
                    // Throwaway data: no fsync of the copy, no manifest to checksum.
                    "--no-sync",
                    "--no-manifest");
            // Debian keeps the configuration outside the data directory, so the copy has none of its own.
            Path hba = Path.of(queryPrimary("SHOW hba_file"));
            writeOwned("pg_hba.conf", Files.readString(hba, StandardCharsets.UTF_8));
            writeOwned("pg_ident.conf", "");
            writeOwned("postgresql.conf", configuration());
            // The primary's ALTER SYSTEM settings are not the replica's.
            writeOwned("postgresql.auto.conf", "# headroom OwnedReplica: no ALTER SYSTEM settings\n");
            writeOwned("standby.signal", "");
        } catch (IOException e) {
            throw new IllegalStateException("cannot make " + this + " in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    private String configuration() {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("port", Integer.toString(port));
        settings.put("listen_addresses", "'127.0.0.1'");
        settings.put("unix_socket_directories", "'/var/run/postgresql'");
        settings.put("hba_file", "'" + dataDir.resolve("pg_hba.conf") + "'");
        settings.put("ident_file", "'" + dataDir.resolve("pg_ident.conf") + "'");
        settings.put("hot_standby", "on");
        settings.put("hot_standby_feedback", "on");
        settings.put("shared_buffers", "16MB");
        settings.put("max_connections", "50");
        for (String setting : AT_LEAST_PRIMARY) {
            int primary = Integer.parseInt(queryPrimary("SELECT setting FROM pg_settings WHERE name = ?", setting));
            int ours = Integer.parseInt(settings.getOrDefault(setting, "0"));
            settings.put(setting, Integer.toString(Math.max(primary, ours)));
        }
        settings.put("wal_receiver_status_interval", "'1s'");
        settings.put("wal_retrieve_retry_interval", "'500ms'");
        settings.put("wal_receiver_timeout", "'5s'");
        settings.put("max_standby_streaming_delay", "-1");
        settings.put("logging_collector", "off");
        // Only an OS crash needs fsync; a test's crash is pg_ctl stop -m immediate, which it survives.
        settings.put("fsync", "off");
        settings.put(
                "primary_conninfo",
                "'host=127.0.0.1 port=" + proxy.port() + " user=postgres application_name=" + slot
                        + " connect_timeout=2'");
        settings.put("primary_slot_name", "'" + slot + "'");
        StringBuilder conf = new StringBuilder("# headroom OwnedReplica " + name + "\n");
        settings.forEach((k, v) -> conf.append(k).append(" = ").append(v).append('\n'));
        return conf.toString();
    }

    private void writeOwned(String file, String content) throws IOException {
        Path path = dataDir.resolve(file);
        Files.writeString(path, content, StandardCharsets.UTF_8);
        PostgresTool.giveToPostgres(path);
    }

    private void awaitReady() {
        try {
            Awaitility.await(this + " accepts connections")
                    .atMost(SERVER_TIMEOUT)
                    .pollInterval(POLL)
                    .ignoreExceptions()
                    .until(() -> inRecovery() != promoted);
            if (!cut && !promoted) {
                awaitCaughtUp(SERVER_TIMEOUT);
            }
        } catch (ConditionTimeoutException e) {
            throw new IllegalStateException(this + ": " + e.getMessage() + withLogTail(), e);
        }
    }

    private void pgCtl(String... args) {
        String[] full = new String[args.length + 2];
        full[0] = "-D";
        full[1] = dataDir.toString();
        System.arraycopy(args, 0, full, 2, args.length);
        try {
            PostgresTool.run(SERVER_TIMEOUT.plusSeconds(30), "pg_ctl", full);
        } catch (IllegalStateException e) {
            throw new IllegalStateException(this + ": " + e.getMessage() + withLogTail(), e);
        }
    }

    private String withLogTail() {
        return "\n--- tail of " + logFile() + " ---\n" + logTail() + "\n--- (is the primary up? start it with `"
                + ServiceResolver.START_COMMAND + "`)";
    }

    private String logFile() {
        return dataDir.resolve("replica.log").toString();
    }

    private String logTail() {
        try {
            List<String> lines = Files.readAllLines(Path.of(logFile()), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private void dropSlot() {
        // The primary's WAL sender may outlive the cut connection by a moment; end it, then drop.
        Awaitility.await("slot " + slot + " dropped")
                .atMost(Duration.ofSeconds(30))
                .pollInterval(Duration.ofMillis(50))
                .ignoreExceptions()
                .until(() -> {
                    queryPrimary(
                            "SELECT count(pg_terminate_backend(active_pid))::text FROM pg_replication_slots"
                                    + " WHERE slot_name = ? AND active_pid IS NOT NULL",
                            slot);
                    return "0"
                                    .equals(queryPrimary(
                                            "SELECT count(pg_drop_replication_slot(slot_name))::text"
                                                    + " FROM pg_replication_slots WHERE slot_name = ?",
                                            slot))
                            || "0"
                                    .equals(queryPrimary(
                                            "SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = ?",
                                            slot));
                });
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
    }

    private static void requirePrimary() {
        try (Connection c = PostgresEndpoint.connect(PRIMARY_ADMIN_URL)) {
            c.isValid(3);
        } catch (SQLException e) {
            throw new ServiceUnavailableException("an OwnedReplica needs the local PostgreSQL primary on 127.0.0.1:"
                    + PRIMARY_PORT + " (" + e.getMessage() + "); start it with `" + ServiceResolver.START_COMMAND
                    + "`");
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free loopback port for a replica", e);
        }
    }

    private static String seconds(Duration d) {
        return Long.toString(d.toSeconds());
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private String queryPrimary(String sql, String... params) {
        return query(PRIMARY_ADMIN_URL, params, sql);
    }

    private String queryReplica(String sql) {
        return query("jdbc:postgresql://127.0.0.1:" + port + "/postgres", new String[0], sql);
    }

    private static String query(String url, String[] params, String sql) {
        try (Connection c = PostgresEndpoint.connect(url);
                PreparedStatement s = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) {
                s.setString(i + 1, params[i]);
            }
            try (ResultSet rs = s.executeQuery()) {
                if (!rs.next()) {
                    return "";
                }
                String value = rs.getString(1);
                return value == null ? "" : value;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("query failed on " + url + " (" + sql + "): " + e.getMessage(), e);
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    private void quietly(String what, Step step) {
        try {
            step.run();
        } catch (Exception e) {
            log.warn("{}: could not {}: {}", this, what, e.toString());
        }
    }
}
