package dev.headroom.cache.redis;

import dev.headroom.cache.InvalidationBus;
import dev.headroom.cache.internal.SharedClientResources;
import dev.headroom.cache.internal.Sweeper;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisURI;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An {@link InvalidationBus} over Redis pub/sub (works with standalone Redis and, since {@code
 * PUBLISH} reaches every node's subscribers, with Redis Cluster through a standalone connection to
 * any node: give several nodes as seeds and the bus moves to the next one when its node is gone).
 *
 * <p>Each message is {@code <publisher> <sequence> <version> <key>} ({@code r<version>} for the
 * repair of an invalidation Redis had not taken), {@code <publisher> <sequence> -1 *} for a flush
 * of every instance's L1, or {@code -2 *} for a flush after a clear Redis did not take. The
 * subscriber tracks the last sequence seen from each publisher; a jump means lost messages.
 *
 * <p>Liveness: the bus is {@linkplain #isDelivering() delivering} from the moment Redis confirms
 * the subscription until the subscription's connection drops or Redis leaves a ping on it
 * unanswered for a second (checked every second). Both edges are reported to the listener as
 * possible loss, the second one only once Redis has confirmed the subscription again, so no
 * message published between a flush and the resubscription goes unnoticed. While not delivering
 * the cache caps its L1 lifetimes. After 3 s without delivery, with more than one seed, the bus
 * moves both its connections to the next seed.
 *
 * <p>Publishing never queues: while the publishing connection is down a message is dropped (its
 * sequence number is used up, so every subscriber sees the gap and flushes). Thread-safe. Owns its
 * client and connections.
 */
public final class RedisInvalidationBus implements InvalidationBus {

    private static final Logger log = LoggerFactory.getLogger(RedisInvalidationBus.class);

    private static final Duration CONNECT_AT_START = Duration.ofSeconds(2);
    /** Version and key of a flush message: a negative version, which no key has. */
    private static final String FLUSH = "-1 *";
    /** A flush whose clear L2 did not take: receivers stop trusting L2 values until the next flush. */
    private static final String CLEAR_NOT_TAKEN = "-2 *";

    private static final long RETRY_SECONDS = 1;
    private static final long CHECK_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** Checks without delivery after which the bus moves to the next seed. */
    private static final int CHECKS_BEFORE_FAILOVER = 3;

    private final RedisClient client;
    private final boolean ownsClient;
    private final List<RedisURI> seeds;
    private final String channel;
    private final String publisherId =
            Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
    private final AtomicLong sequence = new AtomicLong();
    private final ReentrantLock sendLock = new ReentrantLock();
    private final ConcurrentHashMap<String, Long> lastSeen = new ConcurrentHashMap<>();
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> publisher;
    private volatile @Nullable StatefulRedisPubSubConnection<String, String> subscriber;
    private volatile @Nullable Listener listener;
    /** Index into {@link #seeds} of the node both connections use. */
    private volatile int seed;

    private volatile boolean closed;
    /** Redis confirmed the subscription and nothing has gone wrong since. */
    private volatile boolean delivering;
    /** The subscription's connection dropped: only Redis's confirmation of the resubscription resumes delivery. */
    private volatile boolean awaitingResubscribe;
    /** The first confirmation came after {@link #subscribe} stopped waiting: L1 may hold what was missed. */
    private volatile boolean subscribedLate;

    private volatile boolean everDelivered;
    private final AtomicInteger checksDown = new AtomicInteger();
    /** Bumped by a failover: connection attempts of an earlier epoch close what they get and stop. */
    private final AtomicInteger epoch = new AtomicInteger();

    private final AtomicBoolean checking = new AtomicBoolean();
    private final ScheduledFuture<?> liveness;

    private RedisInvalidationBus(List<RedisURI> seeds, String channel, @Nullable RedisClient given) {
        this.seeds = List.copyOf(seeds);
        this.ownsClient = given == null;
        if (given == null) {
            this.client = RedisClient.create(SharedClientResources.get());
            // No queue while disconnected (a message is dropped and its gap flushes the
            // subscribers), and a bounded one while connected.
            this.client.setOptions(ClientOptions.builder()
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                    .requestQueueSize(10_000)
                    .build());
        } else {
            this.client = given; // its options (TLS, timeouts, resources) are the caller's
        }
        this.channel = channel;
        // One state listener for the bus's whole life (not one per connection attempt).
        this.client.addListener(stateListener);
        this.liveness = Sweeper.every(CHECK_NANOS, this::checkLiveness);
    }

    private final RedisConnectionStateListener stateListener = new RedisConnectionStateListener() {
        @Override
        @SuppressWarnings("ReferenceEquality") // identity: is it our subscription's connection?
        public void onRedisDisconnected(io.lettuce.core.RedisChannelHandler<?, ?> handler) {
            if (handler == subscriber) {
                awaitingResubscribe = true;
                interrupted("subscription lost");
            }
        }

        @Override
        public void onRedisConnected(io.lettuce.core.RedisChannelHandler<?, ?> handler, SocketAddress address) {
            // Connected is not subscribed: delivery resumes when Redis confirms the subscription.
        }
    };

    /**
     * Connects a bus to one Redis node; see {@link #create(List, String)}.
     *
     * @param uri the Redis URI, such as {@code redis://127.0.0.1:6379}
     * @param channel the pub/sub channel, one per cache (for example the cache's key prefix +
     *     {@code "invalidations"})
     * @return the bus
     * @throws IllegalArgumentException if the URI is malformed or the channel blank
     */
    public static RedisInvalidationBus create(String uri, String channel) {
        Objects.requireNonNull(uri, "uri");
        return create(List.of(uri), channel);
    }

    /**
     * Connects a bus to the first of {@code seeds}. If Redis cannot be reached within 2 s the bus
     * starts anyway: publishing is skipped (logged at debug) and both connections are retried in the
     * background once a second; when the subscription is established, the listener is told that
     * messages may have been lost. With several seeds (nodes of one Redis Cluster, whose {@code
     * PUBLISH} reaches every node), the bus moves to the next seed after 3 s without delivery.
     *
     * @param seeds Redis URIs, such as {@code redis://127.0.0.1:7001}; tried in order
     * @param channel the pub/sub channel, one per cache
     * @return the bus
     * @throws IllegalArgumentException if there is no seed, a URI is malformed or the channel blank
     */
    public static RedisInvalidationBus create(List<String> seeds, String channel) {
        return createBus(null, seeds, channel);
    }

    /**
     * As {@link #create(List, String)}, on a Lettuce client the caller configured (TLS, client
     * options, {@code ClientResources}) and owns: the bus uses it as given and does not shut it down.
     * Give it {@code DisconnectedBehavior.REJECT_COMMANDS}, or messages published while disconnected
     * queue up instead of showing up as a gap.
     *
     * @param client the client the bus connects with
     * @param seeds Redis URIs (also {@code rediss://} for TLS), tried in order
     * @param channel the pub/sub channel, one per cache
     * @return the bus
     * @throws IllegalArgumentException if there is no seed, a URI is malformed or the channel blank
     */
    public static RedisInvalidationBus create(RedisClient client, List<String> seeds, String channel) {
        return createBus(Objects.requireNonNull(client, "client"), seeds, channel);
    }

    private static RedisInvalidationBus createBus(@Nullable RedisClient client, List<String> seeds, String channel) {
        Objects.requireNonNull(seeds, "seeds");
        Objects.requireNonNull(channel, "channel");
        if (seeds.isEmpty()) {
            throw new IllegalArgumentException("seeds must name at least one Redis URI");
        }
        if (channel.isBlank()) {
            throw new IllegalArgumentException("channel must not be blank");
        }
        List<RedisURI> uris = new ArrayList<>(seeds.size());
        for (String uri : seeds) {
            uris.add(RedisURI.create(Objects.requireNonNull(uri, "seeds contains a null URI")));
        }
        RedisInvalidationBus bus = new RedisInvalidationBus(uris, channel, client);
        CompletableFuture<StatefulRedisPubSubConnection<String, String>> first = bus.connect();
        try {
            bus.publisher = first.get(CONNECT_AT_START.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            bus.publisherLater(first, 0);
        } catch (ExecutionException | TimeoutException e) {
            log.warn(
                    "invalidation bus '{}': Redis at {} not reachable at start ({}); retrying in the background",
                    channel,
                    bus.where(),
                    String.valueOf(e instanceof ExecutionException ? e.getCause() : e));
            bus.publisherLater(first, 0);
        }
        return bus;
    }

    private String where() {
        RedisURI uri = seeds.get(seed);
        return uri.getHost() + ":" + uri.getPort();
    }

    private CompletableFuture<StatefulRedisPubSubConnection<String, String>> connect() {
        return client.connectPubSubAsync(StringCodec.UTF8, seeds.get(seed)).toCompletableFuture();
    }

    /** Adopts {@code attempt} if it succeeds after all, else keeps trying once a second. */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void publisherLater(
            CompletableFuture<StatefulRedisPubSubConnection<String, String>> attempt, int attemptEpoch) {
        attempt.whenComplete((c, error) -> {
            if (error == null) {
                if (closed || attemptEpoch != epoch.get()) {
                    c.close();
                } else {
                    publisher = c;
                    log.info("invalidation bus '{}': publishing to Redis at {}", channel, where());
                }
            } else if (!closed && attemptEpoch == epoch.get()) {
                CompletableFuture.runAsync(
                        () -> publisherLater(connect(), attemptEpoch),
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

    @Override
    public void publishRepaired(String key, long version) {
        if (version < 0) {
            throw new IllegalArgumentException("version must not be negative, got " + version);
        }
        send("r" + version + " " + key);
    }

    @Override
    public void publishClearNotTaken() {
        send(CLEAR_NOT_TAKEN);
    }

    /**
     * Sends with the next sequence number. Unsent while not connected: the number is used up
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
            if (p == null || !p.isOpen()) {
                log.debug("invalidation bus '{}': not connected; one message not published", channel);
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
     *
     * @throws IllegalStateException if a listener is already subscribed
     */
    @Override
    public void subscribe(Listener listener) {
        Objects.requireNonNull(listener, "listener");
        synchronized (this) {
            if (this.listener != null) {
                throw new IllegalStateException("invalidation bus '" + channel + "' already has its listener;"
                        + " give each cache its own bus");
            }
            this.listener = listener;
        }
        CompletableFuture<Void> established = new CompletableFuture<>();
        attemptSubscribe(established, epoch.get());
        try {
            established.get(CONNECT_AT_START.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            subscribedLate = true;
        } catch (ExecutionException | TimeoutException e) {
            subscribedLate = true; // stopped waiting: a late subscription reports loss
            log.warn(
                    "invalidation bus '{}': not subscribed to Redis at {} yet; retrying in the background",
                    channel,
                    where());
        }
    }

    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void attemptSubscribe(CompletableFuture<Void> established, int attemptEpoch) {
        connect().whenComplete((connection, error) -> {
            if (error != null) {
                retrySubscribe(established, error, attemptEpoch);
            } else if (closed || attemptEpoch != epoch.get()) {
                connection.close();
            } else {
                subscribed(connection, established);
            }
        });
    }

    @SuppressWarnings(
            "FutureReturnValueIgnored") // the delayed task is fire-and-forget; it reschedules itself on failure
    private void retrySubscribe(CompletableFuture<Void> established, Throwable error, int attemptEpoch) {
        if (closed || attemptEpoch != epoch.get()) {
            return;
        }
        log.debug("invalidation bus '{}': cannot subscribe yet: {}", channel, error.toString());
        CompletableFuture.runAsync(
                () -> attemptSubscribe(established, attemptEpoch),
                CompletableFuture.delayedExecutor(RETRY_SECONDS, TimeUnit.SECONDS));
    }

    private void subscribed(
            StatefulRedisPubSubConnection<String, String> connection, CompletableFuture<Void> established) {
        connection.addListener(new RedisPubSubAdapter<>() {
            @Override
            public void message(String ch, String message) {
                Listener l = listener;
                if (l != null) {
                    deliver(message, l);
                }
            }

            @Override
            @SuppressWarnings("ReferenceEquality") // identity: is it our subscription's connection?
            public void subscribed(String ch, long count) {
                // Redis confirmed the subscription: the first time, and after every reconnect
                if (ch.equals(channel) && connection == subscriber) {
                    awaitingResubscribe = false;
                    resumed();
                }
            }
        });
        subscriber = connection;
        connection.async().subscribe(channel).whenComplete((ok, error) -> {
            if (error != null) {
                subscriber = null;
                connection.close();
                retrySubscribe(established, error, epoch.get());
                return;
            }
            established.complete(null);
        });
    }

    /** Delivery (re)starts: after the first confirmation only if it came late, always after a loss. */
    private void resumed() {
        if (delivering || closed) {
            return;
        }
        delivering = true;
        checksDown.set(0);
        boolean lossPossible = everDelivered || subscribedLate;
        everDelivered = true;
        Listener l = listener;
        if (lossPossible && l != null) {
            log.info("invalidation bus '{}': subscribed to Redis at {}; flushing L1 once more", channel, where());
            l.messagesMayHaveBeenLost();
        }
    }

    /** Delivery stops: what L1 holds may be invalidated without this instance hearing of it. */
    private void interrupted(String why) {
        if (!delivering || closed) {
            return;
        }
        delivering = false;
        lastSeen.clear();
        log.warn(
                "invalidation bus '{}': {}; L1 flushed, and its entries live short until delivery resumes",
                channel,
                why);
        Listener l = listener;
        if (l != null) {
            l.messagesMayHaveBeenLost();
        }
    }

    /**
     * Once a second: pings the subscription's connection (a dead peer or a stalled Redis shows up as
     * no answer within a second), resumes delivery after a ping-only interruption, and moves to the
     * next seed after 3 s without delivery.
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void checkLiveness() {
        if (closed || listener == null) {
            return;
        }
        if (!delivering && everDeliveredOrLate() && checksDown.incrementAndGet() >= CHECKS_BEFORE_FAILOVER) {
            failover();
            return;
        }
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        if (s == null || !s.isOpen() || !checking.compareAndSet(false, true)) {
            return;
        }
        try {
            s.async()
                    .ping()
                    .toCompletableFuture()
                    .orTimeout(CHECK_NANOS, TimeUnit.NANOSECONDS)
                    .whenComplete((pong, error) -> {
                        checking.set(false);
                        if (error != null) {
                            interrupted("Redis did not answer a ping on the subscription within 1 s");
                        } else if (!awaitingResubscribe) {
                            resumed(); // answered again, on a subscription that never dropped
                        }
                    });
        } catch (RuntimeException e) { // rejected while disconnected
            checking.set(false);
        }
    }

    private boolean everDeliveredOrLate() {
        return everDelivered || subscribedLate;
    }

    /** Moves both connections to the next seed (only with more than one). */
    private void failover() {
        checksDown.set(0);
        if (seeds.size() < 2) {
            return;
        }
        String from = where();
        int next = epoch.incrementAndGet();
        seed = (seed + 1) % seeds.size();
        log.warn(
                "invalidation bus '{}': no delivery from {} for {} s; moving to {}",
                channel,
                from,
                CHECKS_BEFORE_FAILOVER,
                where());
        StatefulRedisPubSubConnection<String, String> oldSubscriber = subscriber;
        StatefulRedisPubSubConnection<String, String> oldPublisher = publisher;
        subscriber = null;
        publisher = null;
        awaitingResubscribe = true;
        if (oldSubscriber != null) {
            oldSubscriber.closeAsync();
        }
        if (oldPublisher != null) {
            oldPublisher.closeAsync();
        }
        attemptSubscribe(new CompletableFuture<>(), next);
        publisherLater(connect(), next);
    }

    /** Whether the subscription is established (for tests and health checks). */
    public boolean isSubscribed() {
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        return s != null && s.isOpen();
    }

    /**
     * Whether other instances' messages reach this instance now: Redis confirmed the subscription,
     * its connection has not dropped since, and it answered the last ping within a second.
     */
    @Override
    public boolean isDelivering() {
        return delivering;
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
        boolean repair = parts[2].startsWith("r");
        try {
            seq = Long.parseLong(parts[1]);
            version = Long.parseLong(repair ? parts[2].substring(1) : parts[2]);
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
        if (version == -2) {
            log.debug("invalidation bus '{}': another instance's clear was not taken by Redis", channel);
            listener.clearNotTakenByL2();
            return;
        }
        if (version < 0) {
            log.debug("invalidation bus '{}': another instance asked for an L1 flush", channel);
            listener.flushRequested();
            return;
        }
        if (repair) {
            listener.repaired(parts[3], version);
        } else {
            listener.invalidated(parts[3], version);
        }
    }

    @Override
    public void close() {
        closed = true;
        liveness.cancel(false);
        StatefulRedisPubSubConnection<String, String> s = subscriber;
        if (s != null) {
            s.close();
        }
        StatefulRedisPubSubConnection<String, String> p = publisher;
        if (p != null) {
            p.close();
        }
        client.removeListener(stateListener);
        if (ownsClient) {
            client.shutdown();
        }
    }

    @Override
    public String toString() {
        return "RedisInvalidationBus[" + channel + "]";
    }
}
