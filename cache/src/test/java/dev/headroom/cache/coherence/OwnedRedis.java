package dev.headroom.cache.coherence;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Stream;
import org.awaitility.Awaitility;
import org.jspecify.annotations.Nullable;

/**
 * A {@code redis-server} owned by the checker: a free loopback port, a temp dir, a small {@code
 * maxmemory} with {@code allkeys-lru} (so values, tombstones and the generation key get evicted), no
 * persistence (a restart loses everything, as a crash of a cache Redis would), and {@code DEBUG}
 * enabled for {@code DEBUG SLEEP}. Fails, never skips, when {@code redis-server} is not installed.
 *
 * <p>Not thread-safe: the checker's fault thread drives it.
 */
final class OwnedRedis implements AutoCloseable {

    private final int port;
    private final String maxMemory;
    private final Path dir;
    private @Nullable Process process;

    private OwnedRedis(int port, String maxMemory, Path dir) {
        this.port = port;
        this.maxMemory = maxMemory;
        this.dir = dir;
    }

    static OwnedRedis start(String maxMemory) {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException("no free loopback port for the checker's redis-server", e);
        }
        Path dir;
        try {
            dir = Files.createTempDirectory("headroom-coherence-redis-");
        } catch (IOException e) {
            throw new IllegalStateException("no temp dir for the checker's redis-server", e);
        }
        OwnedRedis redis = new OwnedRedis(port, maxMemory, dir);
        redis.launch();
        return redis;
    }

    int port() {
        return port;
    }

    String uri() {
        return "redis://127.0.0.1:" + port;
    }

    private void launch() {
        try {
            process = new ProcessBuilder(List.of(
                            "redis-server",
                            "--port",
                            Integer.toString(port),
                            "--bind",
                            "127.0.0.1",
                            "--dir",
                            dir.toString(),
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--maxmemory",
                            maxMemory,
                            "--maxmemory-policy",
                            "allkeys-lru",
                            "--enable-debug-command",
                            "local"))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(new File(dir.toFile(), "redis.log")))
                    .start();
        } catch (IOException e) {
            throw new AssertionError(
                    "the coherence checker needs the redis-server binary (Redis 7) on PATH (" + e.getMessage()
                            + "): install it with `apt-get install redis-server`",
                    e);
        }
        Awaitility.await("the checker's redis-server on port " + port)
                .atMost(Duration.ofSeconds(20))
                .pollInterval(Duration.ofMillis(20))
                .ignoreExceptions()
                .until(() -> "PONG".equals(run(c -> c.ping())));
    }

    /** SHUTDOWN NOSAVE, waits for the process to end, keeps it down {@code downFor}, starts it again empty. */
    void restart(Duration downFor) throws InterruptedException {
        try {
            run(c -> {
                c.shutdown(false);
                return null;
            });
        } catch (RuntimeException expected) {
            // the connection drops under the command
        }
        Process p = process;
        if (p != null && !p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
        }
        Thread.sleep(downFor.toMillis()); // a fault: Redis stays down this long
        launch();
    }

    /** Runs one command on a connection of its own (connected, used, closed), past every cache. */
    <T> T run(Function<RedisCommands<String, String>, T> command) {
        RedisClient client = RedisClient.create("redis://127.0.0.1:" + port + "?timeout=5s");
        try (StatefulRedisConnection<String, String> c = client.connect()) {
            return command.apply(c.sync());
        } finally {
            client.shutdown(0, 1, TimeUnit.SECONDS);
        }
    }

    @Override
    public void close() {
        Process p = process;
        if (p != null) {
            p.destroyForcibly();
            try {
                p.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        } catch (IOException e) {
            // a temp dir left behind is harmless
        }
    }
}
