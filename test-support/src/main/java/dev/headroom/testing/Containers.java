package dev.headroom.testing;

import java.time.Duration;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * The Testcontainers fallback, used only when neither the environment nor the local ports provide a
 * service. Containers live for the JVM; Testcontainers' reaper removes them afterwards.
 */
final class Containers implements ServiceResolver.ContainerStarter {

    private static final Logger log = LoggerFactory.getLogger(Containers.class);

    private final ReentrantLock lock = new ReentrantLock();
    private @Nullable PostgresEndpoint postgres;
    private @Nullable RedisEndpoint redis;

    @Override
    public @Nullable PostgresEndpoint postgres() {
        lock.lock();
        try {
            if (postgres == null) {
                postgres = startPostgres();
            }
            return postgres;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public @Nullable RedisEndpoint redis() {
        lock.lock();
        try {
            if (redis == null) {
                redis = startRedis();
            }
            return redis;
        } finally {
            lock.unlock();
        }
    }

    private static @Nullable PostgresEndpoint startPostgres() {
        if (!dockerAvailable()) {
            return null;
        }
        GenericContainer<?> pg = new GenericContainer<>("postgres:15")
                .withEnv("POSTGRES_HOST_AUTH_METHOD", "trust")
                .withEnv("POSTGRES_DB", "test")
                .withExposedPorts(5432)
                .waitingFor(Wait.forLogMessage(".*database system is ready to accept connections.*\\n", 2)
                        .withStartupTimeout(Duration.ofMinutes(2)));
        pg.start();
        log.info("Started PostgreSQL in a container at {}:{}", pg.getHost(), pg.getMappedPort(5432));
        return new PostgresEndpoint(
                "jdbc:postgresql://" + pg.getHost() + ":" + pg.getMappedPort(5432) + "/test", "testcontainers");
    }

    private static @Nullable RedisEndpoint startRedis() {
        if (!dockerAvailable()) {
            return null;
        }
        GenericContainer<?> redis = new GenericContainer<>("redis:7").withExposedPorts(6379);
        redis.start();
        log.info("Started Redis in a container at {}:{}", redis.getHost(), redis.getMappedPort(6379));
        return new RedisEndpoint(redis.getHost(), redis.getMappedPort(6379), "testcontainers");
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }
}
