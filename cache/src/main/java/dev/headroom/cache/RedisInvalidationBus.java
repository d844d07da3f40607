package dev.headroom.cache;

import dev.headroom.cache.internal.SharedClientResources;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link InvalidationBus} over Redis pub/sub (works with standalone Redis and, since {@code
 * PUBLISH} reaches every node's subscribers, with Redis Cluster through a standalone connection to
 * any node).
 *
 * <p>Each message is {@code <publisher> <sequence> <version> <key>}, or {@code <publisher>
 * <sequence> -1 *} for a flush of every instance's L1. The subscriber tracks the last
 * sequence seen from each publisher; a jump means lost messages. A disconnect of the subscription
 * and its re-establishment (Lettuce resubscribes by itself) are reported as possible loss too.
 *
 * <p>Thread-safe. Owns its client and connections.
 */
public final class RedisInvalidationBus implements InvalidationBus {

    private static final Logger log = LoggerFactory.getLogger(RedisInvalidationBus.class);

    private static final Duration CONNECT_AT_START = Duration.ofSeconds(2);
    /** Version and key of a flush message: a negative version, which no key has. */
    private static final String FLUSH = "-1 *";

    private static final long RETRY_SECONDS = 1;

    private final RedisClient client;
    private final RedisURI redisUri;
    private final String channel;
    private final String publisherId =
            Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    private final AtomicLong sequence = new AtomicLong();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ConcurrentHashMap<String, Long> lastSeen = new ConcurrentHashMap<>();
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> publisher;
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> subscriber;
    private volatile boolean closed;

    private RedisInvalidationBus(String uri, String channel) {
        this.redisUri = RedisURI.create(uri);
        this.client = RedisClient.create(SharedClientResources.get(), redisUri);
        this.channel = channel;
    }

    /**
     * Connects a bus. If Redis cannot be reached within 2 s the bus starts anyway: publishing is
     * skipped (logged at debug) and both connections are retried in the background once a second;
     * when the subscription is established, the listener is told that messages may have been lost.
     *
     * @param uri the Redis URI, such as {@code redis://127.0.0.1:6379}
     * @param channel the pub/sub channel, one per cache (for example the cache's key prefix +
     *     {@code "invalidations"})
     * @return the bus
     * @throws IllegalArgumentException if the URI is malformed or the channel blank
     */
    public static RedisInvalidationBus create(String uri, String channel) {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(channel, "channel");
        if (channel.isBlank()) {
            throw new IllegalArgumentException("channel must not be blank");
        }
        RedisInvalidationBus bus = new RedisInvalidationBus(uri, channel);
        CompletableFuture<StatefulRedisPubSubConnection<String, String>> first = bus.connect();
        try {
            bus.publisher = first.get(CONNECT_AT_START.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            bus.publisherLater(first);
        } catch (ExecutionException | TimeoutException e) {
            log.warn(
                    "invalidation bus '{}': Redis at {} not reachable at start ({}); retrying in the background",
                    channel,
                    bus.where(),
                    String.valueOf(e instanceof ExecutionException ? e.getCause() : e));
            bus.publisherLater(first);
        }
        return bus;
    }

    private String where() {
        return redisUri.getHost() + ":" + redisUri.getPort();
    }

    private CompletableFuture<StatefulRedisPubSubConnection<String, String>> connect() {
        return client.connectPubSubAsync(StringCodec.UTF8, redisUri).toCompletableFuture();
    }

    /** Adopts {@code attempt} if it succeeds after all, else keeps trying once a second. */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void publisherLater(CompletableFuture<StatefulRedisPubSubConnection<String, String>> attempt) {
        attempt.whenComplete((c, error) -> {
            if (error == null) {
                if (closed) {
                    c.close();
                } else {
                    publisher = c;
                    log.info("invalidation bus '{}': publishing to Redis at {}", channel, where());
                }
            } else if (!closed) {
                CompletableFuture.runAsync(
                        () -> publisherLater(connect()),
                        CompletableFuture.delayedExecutor(RETRY_SECONDS, TimeUnit.SECONDS));
            }
        });
    }

    @Override
    public void publish(String key, long version) {
        if (version < 0) {
            throw new IllegalArgumentException("version must not be negative, got " + version);
        }
        send(version + " " + key);
    }

    @Override
    public void publishFlush() {
        send(FLUSH);
    }

    /**
     * Sends with the next sequence number. Unsent while never connected: the number is used up
     * anyway, so subscribers see a gap at the next message and flush.
     */
    @SuppressWarnings(
            "FutureReturnValueIgnored") // a lost publish shows up as a sequence gap at every subscriber, which flushes
    // its L1
    private void send(String versionAndKey) {
        StatefulRedisPubSubConnection<String, String> p = publisher;
        // Numbering and handing to the connection happen together: two threads that numbered their
        // messages n and n+1 but wrote them n+1 first would look, to every subscriber, like a lost
        // message, and each would flush its whole L1. The lock covers a non-blocking write only.
        sendLock.lock();
        try {
            String message = publisherId + " " + sequence.incrementAndGet() + " " + versionAndKey;
            if (p == null) {
                log.debug("invalidation bus '{}': not connected yet; one message not published", channel);
                return;
            }
            p.async().publish(channel, message);
        } finally {
            sendLock.unlock();
        }
    }

    /**
     * Subscribes, waiting up to 2 s; if Redis cannot be reached the subscription is retried in the
     * background once a second, and the listener hears {@code messagesMayHaveBeenLost} when it is
     * established.
     */
    @Override
    public void subscribe(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        CompletableFuture<Void> established = new CompletableFuture<>();
        attemptSubscribe(listener, established);
        try {
            established.get(CONNECT_AT_START.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            established.completeExceptionally(e); // stopped waiting: a late subscription reports loss
        } catch (ExecutionException | TimeoutException e) {
            established.completeExceptionally(e); // stopped waiting: a late subscription reports loss
            log.warn(
                    "invalidation bus '{}': not subscribed to Redis at {} yet; retrying in the background",
                    channel,
                    where());
        }
    }

    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void attemptSubscribe(Listener listener, CompletableFuture<Void> established) {
        connect().whenComplete((connection, error) -> {
            if (error != null) {
                retrySubscribe(listener, established, error);
            } else if (closed) {
                connection.close();
            } else {
                subscribed(connection, listener, established);
            }
        });
    }

    @SuppressWarnings(
            "FutureReturnValueIgnored") // the delayed task is fire-and-forget; it reschedules itself on failure
    private void retrySubscribe(Listener listener, CompletableFuture<Void> established, Throwable error) {
        if (closed) {
            return;
        }
        log.debug("invalidation bus '{}': cannot subscribe yet: {}", channel, error.toString());
        CompletableFuture.runAsync(
                () -> attemptSubscribe(listener, established),
                CompletableFuture.delayedExecutor(RETRY_SECONDS, TimeUnit.SECONDS));
    }

    private void subscribed(
            StatefulRedisPubSubConnection<String, String> connection,
            Listener listener,
            CompletableFuture<Void> established) {
        connection.addListener(new RedisPubSubAdapter<>() {
            @Override
            public void message(String ch, String message) {
                deliver(message, listener);
            }
        });
        client.addListener(new RedisConnectionStateListener() {
            @Override
            @SuppressWarnings("ReferenceEquality") // identity: is it our subscription's connection?
            public void onRedisDisconnected(io.lettuce.core.RedisChannelHandler<?, ?> handler) {
                if (handler == connection) {
                    log.warn("invalidation bus '{}': subscription lost; flushing L1 until it is back", channel);
                    lastSeen.clear();
                    listener.messagesMayHaveBeenLost();
                }
            }

            @Override
            @SuppressWarnings("ReferenceEquality") // identity: is it our subscription's connection?
            public void onRedisConnected(io.lettuce.core.RedisChannelHandler<?, ?> handler, SocketAddress address) {
                if (handler == connection) {
                    // Messages published while we were away are gone: flush what they might have covered.
                    listener.messagesMayHaveBeenLost();
                }
            }
        });
        connection.async().subscribe(channel).whenComplete((ok, error) -> {
            if (error != null) {
                connection.close();
                retrySubscribe(listener, established, error);
                return;
            }
            subscriber = connection;
            if (!established.complete(null)) {
                // Subscribed late: anything published meanwhile was not seen, and L1 may hold it.
                log.info("invalidation bus '{}': subscribed to Redis at {}", channel, where());
                listener.messagesMayHaveBeenLost();
            }
        });
    }

    /** Whether the subscription is established (for tests and health checks). */
    public boolean isSubscribed() {
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        return s != null && s.isOpen();
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
        if (version < 0) {
            log.debug("invalidation bus '{}': another instance asked for an L1 flush", channel);
            listener.messagesMayHaveBeenLost();
            return;
        }
        listener.invalidated(parts[3], version);
    }

    @Override
    public void close() {
        closed = true;
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        if (s != null) {
            s.close();
        }
        StatefulRedisPubSubConnection<String, String> p = publisher;
        if (p != null) {
            p.close();
        }
        client.shutdown();
    }

    @Override
    public String toString() {
        return "RedisInvalidationBus[" + channel + "]";
    }
}
