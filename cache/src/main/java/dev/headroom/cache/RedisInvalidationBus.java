package dev.headroom.cache;

import dev.headroom.cache.internal.SharedClientResources;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.net.SocketAddress;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link InvalidationBus} over Redis pub/sub (works with standalone Redis and, since {@code
 * PUBLISH} reaches every node's subscribers, with Redis Cluster through a standalone connection to
 * any node).
 *
 * <p>Each message is {@code <publisher> <sequence> <version> <key>}. The subscriber tracks the last
 * sequence seen from each publisher; a jump means lost messages. A disconnect of the subscription
 * and its re-establishment (Lettuce resubscribes by itself) are reported as possible loss too.
 *
 * <p>Thread-safe. Owns its client and connections.
 */
public final class RedisInvalidationBus implements InvalidationBus {

    private static final Logger log = LoggerFactory.getLogger(RedisInvalidationBus.class);

    private final RedisClient client;
    private final String channel;
    private final String publisherId =
            Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    private final AtomicLong sequence = new AtomicLong();
    private final StatefulRedisPubSubConnection<String, String> publisher;
    private final ConcurrentHashMap<String, Long> lastSeen = new ConcurrentHashMap<>();
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> subscriber;

    private RedisInvalidationBus(String uri, String channel) {
        this.client = RedisClient.create(SharedClientResources.get(), uri);
        this.channel = channel;
        this.publisher = client.connectPubSub();
    }

    /**
     * Connects a bus.
     *
     * @param uri the Redis URI, such as {@code redis://127.0.0.1:6379}
     * @param channel the pub/sub channel, one per cache (for example the cache's key prefix +
     *     {@code "invalidations"})
     * @return the bus
     * @throws io.lettuce.core.RedisConnectionException if Redis cannot be reached
     */
    public static RedisInvalidationBus create(String uri, String channel) {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(channel, "channel");
        if (channel.isBlank()) {
            throw new IllegalArgumentException("channel must not be blank");
        }
        return new RedisInvalidationBus(uri, channel);
    }

    @Override
    public void publish(String key, long version) {
        String message = publisherId + " " + sequence.incrementAndGet() + " " + version + " " + key;
        publisher.async().publish(channel, message);
    }

    @Override
    public void subscribe(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        StatefulRedisPubSubConnection<String, String> connection = client.connectPubSub();
        connection.addListener(new RedisPubSubAdapter<>() {
            @Override
            public void message(String ch, String message) {
                deliver(message, listener);
            }
        });
        client.addListener(new RedisConnectionStateListener() {
            @Override
            public void onRedisDisconnected(io.lettuce.core.RedisChannelHandler<?, ?> handler) {
                if (handler == connection) {
                    log.warn("invalidation bus '{}': subscription lost; flushing L1 until it is back", channel);
                    lastSeen.clear();
                    listener.messagesMayHaveBeenLost();
                }
            }

            @Override
            public void onRedisConnected(io.lettuce.core.RedisChannelHandler<?, ?> handler, SocketAddress address) {
                if (handler == connection) {
                    // Messages published while we were away are gone: flush what they might have covered.
                    listener.messagesMayHaveBeenLost();
                }
            }
        });
        connection.sync().subscribe(channel);
        this.subscriber = connection;
    }

    private void deliver(String message, Listener listener) {
        String[] parts = message.split(" ", 4);
        if (parts.length != 4) {
            log.debug("invalidation bus '{}': ignoring malformed message", channel);
            return;
        }
        if (parts[0].equals(publisherId)) {
            return; // our own: the local cache already applied it
        }
        long seq;
        long version;
        try {
            seq = Long.parseLong(parts[1]);
            version = Long.parseLong(parts[2]);
        } catch (NumberFormatException e) {
            log.debug("invalidation bus '{}': ignoring malformed message", channel);
            return;
        }
        long[] previousHolder = {-1};
        lastSeen.merge(parts[0], seq, (old, now) -> {
            previousHolder[0] = old;
            return Math.max(old, now); // a replayed older message must not move the mark back
        });
        long previous = previousHolder[0];
        if (previous >= 0 && seq > previous + 1) {
            log.warn(
                    "invalidation bus '{}': {} messages from one publisher were lost; flushing L1",
                    channel,
                    seq - previous - 1);
            listener.messagesMayHaveBeenLost();
        }
        listener.invalidated(parts[3], version);
    }

    @Override
    public void close() {
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        if (s != null) {
            s.close();
        }
        publisher.close();
        client.shutdown();
    }

    @Override
    public String toString() {
        return "RedisInvalidationBus[" + channel + "]";
    }
}
