package dev.headroom.cache.internal;

import dev.headroom.cache.InvalidationBus;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Invalidations, both ways. Outgoing: L2 first (the removal bumps the key's version, fencing loads
 * in flight anywhere), then L1, then the bus; an invalidation or clear L2 does not take is kept and
 * retried every second ({@link #repairRound}), its key's L2 value bypassed meanwhile, and announced
 * again once L2 takes it. Incoming: the bus listener drops keys (ignoring late messages), marks keys
 * whose L2 value other instances could not retire, and flushes L1 when messages may have been lost
 * or another instance cleared L2.
 *
 * <p>Thread-safe.
 */
public final class Invalidations<K, V> {

    private static final Logger log = LoggerFactory.getLogger(Invalidations.class);

    private final String name;
    private final InFlightLoads<K, V> inFlight;
    private final @Nullable L2Tier<K, V> l2;
    /** Invalidations L2 has not taken yet; null without L2. */
    private final @Nullable L2Repairs repairs;

    private final L2Trust trust;
    private final @Nullable InvalidationBus bus;
    private final @Nullable Function<String, ? extends K> keyDecoder;
    private final Loads<K, V> loads;
    private final Executor executor;
    private final CacheMetrics metrics;
    private final int maxPendingRepairs;

    @SuppressWarnings("TooManyParameters") // wiring, called once per cache
    public Invalidations(
            String name,
            InFlightLoads<K, V> inFlight,
            @Nullable L2Tier<K, V> l2,
            @Nullable L2Repairs repairs,
            L2Trust trust,
            @Nullable InvalidationBus bus,
            @Nullable Function<String, ? extends K> keyDecoder,
            Loads<K, V> loads,
            Executor executor,
            CacheMetrics metrics,
            int maxPendingRepairs) {
        this.name = name;
        this.inFlight = inFlight;
        this.l2 = l2;
        this.repairs = repairs;
        this.trust = trust;
        this.bus = bus;
        this.keyDecoder = keyDecoder;
        this.loads = loads;
        this.executor = executor;
        this.metrics = metrics;
        this.maxPendingRepairs = maxPendingRepairs;
    }

    /** See {@code TieredCache#invalidate}: L2 first, then L1 and the key's load in flight. */
    public boolean invalidate(K key) {
        // L2 first: a load starting after the L1 drop must not find the old value in L2 and install it.
        L2Tier<K, V> tier = l2;
        boolean tookIt = tier == null || invalidateL2(tier.remoteKey(key));
        inFlight.drop(key);
        return tookIt;
    }

    /**
     * Invalidates a key in L2 and tells the other instances; if L2 does not take it, the key is kept
     * for repair (its L2 value bypassed meanwhile) and the message says "any version".
     */
    public boolean invalidateL2(String remoteKey) {
        Long version = loads.awaitQuietly(Objects.requireNonNull(l2).store.invalidate(remoteKey));
        if (version == null) {
            l2WriteFailed(remoteKey);
        }
        publish(remoteKey, version);
        return version != null;
    }

    /** See {@code TieredCache#invalidateAll}: L2's clear first, then L1, then the other instances. */
    public boolean invalidateAll() {
        L2Tier<K, V> tier = l2;
        boolean tookIt = true;
        if (tier != null) { // L2 first, as in invalidate()
            CompletableFuture<Void> clear = tier.store.clear();
            loads.awaitQuietly(clear);
            if (!clear.isDone() || clear.isCompletedExceptionally()) {
                l2Failed(null);
                tookIt = false;
            } else {
                trust.cleared(); // a clear that L2 took retires whatever another's failed one left
            }
        }
        inFlight.flush();
        InvalidationBus b = bus;
        if (b != null && !tookIt) {
            b.publishClearNotTaken();
            metrics.invalidationsSent.increment();
        } else {
            publishFlush();
        }
        return tookIt;
    }

    /** Keeps a key L2 may still hold an old value of (a failed invalidation or put) for repair. */
    public void l2WriteFailed(String remoteKey) {
        l2Failed(remoteKey);
    }

    /** Keeps a failed L2 invalidation ({@code remoteKey}) or clear (null) for the repair task. */
    private void l2Failed(@Nullable String remoteKey) {
        L2Repairs r = Objects.requireNonNull(repairs);
        boolean first = r.pending() == 0;
        boolean clearWasPending = r.clearPending();
        if (remoteKey == null) {
            r.clearFailed();
        } else if (!r.keyFailed(remoteKey) && !clearWasPending) { // once per overflow, not per key
            log.warn(
                    "cache '{}': more than {} L2 invalidations pending; all of this cache's L2 keys will be"
                            + " cleared once L2 answers",
                    name,
                    maxPendingRepairs);
        }
        if (first) {
            log.warn(
                    "cache '{}': L2 did not take an invalidation; its L2 value is bypassed and the"
                            + " invalidation retried every second until L2 takes it",
                    name);
        }
    }

    /** One repair round, on the shared sweeper thread: asynchronous calls only. */
    @SuppressWarnings(
            "FutureReturnValueIgnored") // the round reports its own failures; the callback only logs completion
    public void repairRound() {
        learnClears(false);
        L2Repairs r = Objects.requireNonNull(repairs);
        GuardedRemoteStore store = Objects.requireNonNull(l2).store;
        if (r.pending() == 0) {
            return;
        }
        try {
            r.run(
                            new L2Repairs.Store() {
                                @Override
                                public CompletableFuture<Long> invalidate(String key) {
                                    return store.invalidate(key);
                                }

                                @Override
                                public CompletableFuture<Void> clear() {
                                    return store.clear();
                                }
                            },
                            (remoteKey, version) -> {
                                metrics.l2Repairs.increment();
                                InvalidationBus b = bus;
                                if (b != null) {
                                    b.publishRepaired(remoteKey, version);
                                    metrics.invalidationsSent.increment();
                                }
                            },
                            () -> {
                                metrics.l2Repairs.increment();
                                publishFlush();
                            })
                    .whenComplete((ok, error) -> {
                        if (r.pending() == 0) {
                            log.info("cache '{}': pending L2 invalidations applied", name);
                        }
                    });
        } catch (RuntimeException e) {
            log.warn("cache '{}': L2 repair round failed; retrying in a second", name, e);
        }
    }

    /**
     * Tells other instances. With the version unknown (L2 failed) every instance drops its entry:
     * {@code Long.MAX_VALUE} is newer than anything they hold.
     */
    public void publish(String remoteKey, @Nullable Long version) {
        InvalidationBus b = bus;
        if (b != null) {
            b.publish(remoteKey, version == null ? Long.MAX_VALUE : version);
            metrics.invalidationsSent.increment();
        }
    }

    private void publishFlush() {
        InvalidationBus b = bus;
        if (b != null) {
            b.publishFlush();
            metrics.invalidationsSent.increment();
        }
    }

    /** The listener that applies other instances' invalidations to this one. */
    public InvalidationBus.Listener listener() {
        return new Listener();
    }

    private final class Listener implements InvalidationBus.Listener {
        @Override
        public void invalidated(String encodedKey, long version) {
            metrics.invalidationsReceived.increment();
            if (l2 != null && version == Long.MAX_VALUE) { // its L2 did not take it
                trust.keyNotTaken(encodedKey);
            }
            K key;
            try {
                key = Objects.requireNonNull(Objects.requireNonNull(keyDecoder).apply(encodedKey));
            } catch (RuntimeException e) {
                log.warn("cache '{}': cannot decode an invalidated key; flushing L1 to be safe", name, e);
                messagesMayHaveBeenLost();
                return;
            }
            if (!inFlight.dropIfNotNewer(key, version)) {
                metrics.invalidationsIgnored.increment(); // late or replayed: ours is as new or newer
            }
        }

        @Override
        public void repaired(String encodedKey, long version) {
            trust.keyRepaired(encodedKey);
            invalidated(encodedKey, version);
        }

        @Override
        public void flushRequested() {
            trust.cleared(); // a clear L2 took (possibly the repair of one it did not)
            messagesMayHaveBeenLost();
        }

        @Override
        public void clearNotTakenByL2() {
            trust.clearNotTaken();
            messagesMayHaveBeenLost();
        }

        @Override
        public void messagesMayHaveBeenLost() {
            // The lost messages may include a clear: until L2 has said, nothing L1 or L2 holds is
            // served (flushesPending), then L1 is flushed; so no read after this call returns a value
            // an invalidation or clear it missed retired, and none refills L1 with one meanwhile.
            trust.flushStarted();
            // At once, on the listener's thread: a read that starts after this call must not join
            // a load that began before the message (it may have read what the clear retired).
            inFlight.unregisterAll();
            learnClears(true);
        }
    }

    /**
     * Asks L2 whether another instance cleared it (once a second, and when the bus announces a flush);
     * if so, L1 is flushed too, since it may hold values read from L2 before the clear. With {@code
     * flushAnyway}, L1 is flushed once whatever L2 answers (or if it does not), after the answer.
     * Flushes run on the executor, never on the Redis I/O thread.
     */
    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles every outcome; a failure retries next second
    private void learnClears(boolean flushAnyway) {
        L2Tier<K, V> tier = l2;
        if (tier == null) {
            if (flushAnyway) {
                inFlight.flush();
                trust.flushDone();
            }
            return;
        }
        CompletableFuture<Boolean> answer;
        try {
            answer = tier.store.refreshClears();
        } catch (RuntimeException e) {
            answer = CompletableFuture.failedFuture(e);
        }
        answer.whenCompleteAsync(
                (cleared, error) -> {
                    if (Boolean.TRUE.equals(cleared)) {
                        log.info("cache '{}': L2 was cleared by another instance; L1 flushed", name);
                        inFlight.flush();
                    } else if (flushAnyway) {
                        inFlight.flush();
                    }
                    if (error == null) {
                        trust.generationKnown();
                    } else if (flushAnyway) {
                        // The store may not know a clear the message announced: until a check answers,
                        // no L2 value is served (it could be from before that clear); L1 refills from
                        // the loader.
                        trust.generationUnknown();
                    }
                    if (flushAnyway) {
                        trust.flushDone(); // after the flush: no old entry is served between
                    }
                },
                flushExecutor());
    }

    /** The executor, or the calling thread if it refuses (shut down): a pending flush must end. */
    private Executor flushExecutor() {
        return task -> {
            try {
                executor.execute(task);
            } catch (RuntimeException e) {
                task.run();
            }
        };
    }
}
