package dev.headroom.testing;

/**
 * Where a Redis server was found.
 *
 * @param host the host name or address
 * @param port the TCP port
 * @param source how it was found: {@code env HEADROOM_REDIS_URL}, {@code local default}, {@code
 *     testcontainers}
 */
public record RedisEndpoint(String host, int port, String source) {

    /** Returns the Lettuce/Redis URI, {@code redis://host:port}. */
    public String uri() {
        return "redis://" + host + ":" + port;
    }
}
