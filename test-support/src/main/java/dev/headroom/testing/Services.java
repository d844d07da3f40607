package dev.headroom.testing;

/**
 * The service endpoints for tests. Each call resolves afresh (environment, then local default port,
 * then Testcontainers) so a service stopped or started mid-run is noticed by the next test; a
 * container, once started, is reused for the rest of the JVM. Thread-safe.
 *
 * <p>Most tests use {@link HeadroomServices} instead, which adds per-test isolation on top.
 */
public final class Services {

    private static final Containers CONTAINERS = new Containers();
    private static final ServiceResolver RESOLVER = new ServiceResolver(System.getenv(), () -> CONTAINERS);

    private Services() {}

    /**
     * Returns the PostgreSQL primary.
     *
     * @return the endpoint
     * @throws ServiceUnavailableException if none can be found, saying how to start one
     */
    public static PostgresEndpoint postgres() {
        return RESOLVER.postgres();
    }

    /**
     * Returns the streaming replica of {@link #postgres()}.
     *
     * @return the endpoint
     * @throws ServiceUnavailableException if none can be found, saying how to start one
     */
    public static PostgresEndpoint replica() {
        return RESOLVER.replica();
    }

    /**
     * Returns Redis.
     *
     * @return the endpoint
     * @throws ServiceUnavailableException if none can be found, saying how to start one
     */
    public static RedisEndpoint redis() {
        return RESOLVER.redis();
    }

    /**
     * Returns one node of a Redis Cluster (the client discovers the rest).
     *
     * @return the endpoint
     * @throws ServiceUnavailableException if none can be found, saying how to start one
     */
    public static RedisEndpoint redisCluster() {
        return RESOLVER.redisCluster();
    }
}
