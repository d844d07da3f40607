package dev.headroom.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * Finds each service: environment variable, then local default port, then Testcontainers, then a
 * failure that says how to start the service. The environment and the container starter are
 * injectable so the failure path itself is unit-tested.
 */
final class ServiceResolver {

    static final String START_COMMAND = "scripts/services up";
    static final String PG_URL_ENV = "HEADROOM_PG_URL";
    static final String PG_REPLICA_URL_ENV = "HEADROOM_PG_REPLICA_URL";
    static final String REDIS_URL_ENV = "HEADROOM_REDIS_URL";
    static final String REDIS_CLUSTER_URL_ENV = "HEADROOM_REDIS_CLUSTER_URL";
    static final int LOCAL_REDIS_CLUSTER_PORT = 7001;

    static final String LOCAL_PG_URL = "jdbc:postgresql://127.0.0.1:5432/test";
    static final String LOCAL_REPLICA_URL = "jdbc:postgresql://127.0.0.1:5433/test";
    static final String LOCAL_REDIS_HOST = "127.0.0.1";
    static final int LOCAL_REDIS_PORT = 6379;

    /** Starts a service in a container, or returns null when no Docker engine is available. */
    interface ContainerStarter {
        @Nullable
        PostgresEndpoint postgres();

        @Nullable
        RedisEndpoint redis();
    }

    private final Map<String, String> env;
    private final Supplier<ContainerStarter> containers;

    ServiceResolver(Map<String, String> env, Supplier<ContainerStarter> containers) {
        this.env = env;
        this.containers = containers;
    }

    PostgresEndpoint postgres() {
        String url = env.get(PG_URL_ENV);
        if (url != null) {
            String failure = probePostgres(url, false);
            if (failure != null) {
                throw unavailable("PostgreSQL", PG_URL_ENV + "=" + url + " does not answer (" + failure + ")");
            }
            return new PostgresEndpoint(url, "env " + PG_URL_ENV);
        }
        String localFailure = probePostgres(LOCAL_PG_URL, false);
        if (localFailure == null) {
            return new PostgresEndpoint(LOCAL_PG_URL, "local default");
        }
        PostgresEndpoint container = containers.get().postgres();
        if (container != null) {
            return container;
        }
        throw unavailable(
                "PostgreSQL",
                PG_URL_ENV + " is not set, nothing usable at " + LOCAL_PG_URL + " (" + localFailure
                        + "), and no Docker engine for Testcontainers");
    }

    PostgresEndpoint replica() {
        String url = env.get(PG_REPLICA_URL_ENV);
        String where = url != null ? PG_REPLICA_URL_ENV + "=" + url : LOCAL_REPLICA_URL;
        String failure = probePostgres(url != null ? url : LOCAL_REPLICA_URL, true);
        if (failure == null) {
            return new PostgresEndpoint(
                    url != null ? url : LOCAL_REPLICA_URL, url != null ? "env " + PG_REPLICA_URL_ENV : "local default");
        }
        // Testcontainers cannot give us a replica of the primary the other tests use; say so.
        throw unavailable("PostgreSQL streaming replica", "nothing usable at " + where + " (" + failure + ")");
    }

    RedisEndpoint redis() {
        String url = env.get(REDIS_URL_ENV);
        if (url != null) {
            URI uri;
            try {
                uri = URI.create(url);
            } catch (IllegalArgumentException e) {
                throw unavailable("Redis", REDIS_URL_ENV + "=" + url + " is not a redis://host:port URI");
            }
            if (!"redis".equals(uri.getScheme()) || uri.getHost() == null) {
                throw unavailable("Redis", REDIS_URL_ENV + "=" + url + " is not a redis://host:port URI");
            }
            int port = uri.getPort() < 0 ? LOCAL_REDIS_PORT : uri.getPort();
            String failure = probeRedis(uri.getHost(), port);
            if (failure != null) {
                throw unavailable("Redis", REDIS_URL_ENV + "=" + url + " does not answer (" + failure + ")");
            }
            return new RedisEndpoint(uri.getHost(), port, "env " + REDIS_URL_ENV);
        }
        String localFailure = probeRedis(LOCAL_REDIS_HOST, LOCAL_REDIS_PORT);
        if (localFailure == null) {
            return new RedisEndpoint(LOCAL_REDIS_HOST, LOCAL_REDIS_PORT, "local default");
        }
        RedisEndpoint container = containers.get().redis();
        if (container != null) {
            return container;
        }
        throw unavailable(
                "Redis",
                REDIS_URL_ENV + " is not set, nothing answers PING at " + LOCAL_REDIS_HOST + ":" + LOCAL_REDIS_PORT
                        + " (" + localFailure + "), and no Docker engine for Testcontainers");
    }

    RedisEndpoint redisCluster() {
        String url = env.get(REDIS_CLUSTER_URL_ENV);
        String host = LOCAL_REDIS_HOST;
        int port = LOCAL_REDIS_CLUSTER_PORT;
        if (url != null) {
            URI uri = URI.create(url);
            host = uri.getHost();
            port = uri.getPort() < 0 ? LOCAL_REDIS_CLUSTER_PORT : uri.getPort();
        }
        String failure = probeRedisCluster(host, port);
        if (failure != null) {
            throw unavailable(
                    "Redis Cluster",
                    (url != null ? REDIS_CLUSTER_URL_ENV + "=" + url : "no cluster at " + host + ":" + port) + " ("
                            + failure + ")");
        }
        return new RedisEndpoint(host, port, url != null ? "env " + REDIS_CLUSTER_URL_ENV : "local default");
    }

    /** Returns null when a node answers and the cluster's state is ok, else why not. */
    static @Nullable String probeRedisCluster(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 2_000);
            socket.setSoTimeout(2_000);
            socket.getOutputStream().write("CLUSTER INFO\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            byte[] buffer = new byte[4096];
            int n = socket.getInputStream().read(buffer);
            String reply = n <= 0 ? "" : new String(buffer, 0, n, StandardCharsets.US_ASCII);
            return reply.contains("cluster_state:ok")
                    ? null
                    : "not a healthy cluster node: " + reply.lines().findFirst().orElse("");
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static ServiceUnavailableException unavailable(String service, String why) {
        return new ServiceUnavailableException(service + " is not available for this test: " + why
                + ". Start the test services with `" + START_COMMAND + "` (run from the repository root; it"
                + " starts PostgreSQL, a streaming replica on 127.0.0.1:5433, Redis, and a 3-master Redis Cluster on"
                + " 127.0.0.1:7001-7003), or point " + PG_URL_ENV + " / " + PG_REPLICA_URL_ENV + " / " + REDIS_URL_ENV
                + " / " + REDIS_CLUSTER_URL_ENV + " at running servers.");
    }

    /** Returns null when usable, else why not. */
    static @Nullable String probePostgres(String url, boolean mustBeStandby) {
        try (Connection c = PostgresEndpoint.connect(url);
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            boolean standby = rs.getBoolean(1);
            if (mustBeStandby && !standby) {
                return "the server answers but is not a standby (pg_is_in_recovery() is false)";
            }
            if (!mustBeStandby && standby) {
                return "the server answers but is a standby, not a primary";
            }
            return null;
        } catch (SQLException e) {
            return e.getMessage();
        }
    }

    /** Returns null when Redis answers PING, else why not. Raw RESP so no client starts up. */
    static @Nullable String probeRedis(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 2_000);
            socket.setSoTimeout(2_000);
            OutputStream out = socket.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] reply = in.readNBytes(7);
            String answer = new String(reply, StandardCharsets.US_ASCII);
            return answer.startsWith("+PONG") ? null : "unexpected reply to PING: " + answer.strip();
        } catch (IOException e) {
            return e.toString();
        }
    }
}
