package dev.headroom.testing;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import org.awaitility.Awaitility;
import org.jspecify.annotations.Nullable;

/**
 * A {@code redis-server} of a test's own on a spare loopback port, for fault tests that kill and
 * restart Redis without disturbing the shared one. Needs the {@code redis-server} binary (Debian
 * package {@code redis-server}); without it, {@link #start()} fails saying so.
 *
 * <p>Not thread-safe: one test drives it.
 */
public final class RedisProcess implements AutoCloseable {

    private final int port;
    private @Nullable Process process;

    private RedisProcess(int port) {
        this.port = port;
    }

    /**
     * Starts a new server on a free port and waits until it answers PING.
     *
     * @return the running server
     */
    public static RedisProcess start() {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        } catch (IOException e) {
            throw new IllegalStateException("no free port for a test redis-server", e);
        }
        RedisProcess redis = new RedisProcess(port);
        redis.restart();
        return redis;
    }

    /** Returns the port. */
    public int port() {
        return port;
    }

    /** Returns {@code redis://127.0.0.1:<port>}. */
    public String uri() {
        return "redis://127.0.0.1:" + port;
    }

    /** Kills the server at once (SIGKILL), as a crash would, and waits until it is gone. */
    public void kill() {
        Process p = process;
        if (p != null) {
            p.destroyForcibly();
            try {
                p.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            process = null;
        }
    }

    /** (Re)starts the server on the same port, empty, and waits until it answers PING. */
    public void restart() {
        kill();
        try {
            process = new ProcessBuilder(List.of(
                            "redis-server",
                            "--port",
                            Integer.toString(port),
                            "--bind",
                            "127.0.0.1",
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            // fault tests stall the server with DEBUG SLEEP (off by default since 7.0)
                            "--enable-debug-command",
                            "local"))
                    .redirectErrorStream(true)
                    .redirectOutput(new File(System.getProperty("java.io.tmpdir"), "headroom-redis-" + port + ".log"))
                    .start();
        } catch (IOException e) {
            throw new ServiceUnavailableException("cannot run redis-server for a fault test (" + e.getMessage()
                    + "): install it with `apt-get install redis-server`");
        }
        Awaitility.await("test redis-server on port " + port)
                .atMost(Duration.ofSeconds(10))
                .pollInterval(Duration.ofMillis(20))
                .until(() -> ServiceResolver.probeRedis("127.0.0.1", port) == null);
    }

    @Override
    public void close() {
        kill();
    }
}
