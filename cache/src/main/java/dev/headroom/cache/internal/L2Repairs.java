package dev.headroom.cache.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * Invalidations this instance could not apply to L2 (Redis unreachable or slow, or the breaker
 * open), kept until they are. Without them a key invalidated during an outage keeps its old value
 * in L2 after recovery, and every instance's next L1 miss reads it back.
 *
 * <p>Each key is recorded with a stamp; a repair that succeeds removes the key only if no later
 * failure recorded it again meanwhile, so a newer invalidation is never forgotten. Past {@code
 * limit} keys the set stops growing and one clear of all the cache's L2 keys is scheduled instead.
 * A failed {@code invalidateAll} schedules the same clear.
 *
 * <p>Held in memory only: an instance that dies with repairs pending leaves those keys stale in L2
 * until their L2 TTL. Thread-safe; {@link #run} never overlaps itself.
 */
public final class L2Repairs {
    /** Keys repaired per round; the calls are asynchronous and Lettuce pipelines them. */
    static final int BATCH = 1_000;

    private final ConcurrentHashMap<String, Long> keys = new ConcurrentHashMap<>();
    private final AtomicLong stamps = new AtomicLong();
    /** Stamp of the latest clear asked for and not yet done; 0 for none. */
    private final AtomicLong clearStamp = new AtomicLong();

    private final AtomicBoolean running = new AtomicBoolean();
    private final int limit;

    /** @param limit the most keys kept before a whole clear is scheduled instead; positive */
    public L2Repairs(int limit) {
        if (limit <= 0) {
            throw new IllegalArgumentException("limit must be positive, got " + limit);
        }
        this.limit = limit;
    }

    /**
     * Records that invalidating {@code key} in L2 failed.
     *
     * @return false if the set was full and a whole clear was scheduled instead
     */
    public boolean keyFailed(String key) {
        Objects.requireNonNull(key, "key");
        if (keys.size() >= limit && !keys.containsKey(key)) {
            clearFailed();
            return false;
        }
        keys.put(key, stamps.incrementAndGet());
        return true;
    }

    /** Records that clearing the cache's L2 keys failed (or must be done instead of per-key repairs). */
    public void clearFailed() {
        clearStamp.set(stamps.incrementAndGet());
    }

    /** Whether a clear of all the cache's L2 keys is scheduled. */
    public boolean clearPending() {
        return clearStamp.get() != 0;
    }

    /** Whether {@code key} waits for its L2 invalidation: its L2 value must not be served meanwhile. */
    public boolean isPending(String key) {
        return (!keys.isEmpty() && keys.containsKey(key)) || clearStamp.get() != 0;
    }

    /** Keys waiting, plus one for a pending clear. */
    public int pending() {
        return keys.size() + (clearStamp.get() != 0 ? 1 : 0);
    }

    /** What a round calls in L2; implemented by the cache over its guarded store. */
    public interface Store {
        /** Invalidates one key; completes with its new version. */
        CompletableFuture<Long> invalidate(String key);

        /** Removes all of the cache's keys. */
        CompletableFuture<Void> clear();
    }

    /**
     * Starts one round unless one is running: the pending clear, else up to {@link #BATCH} keys.
     * Failed calls stay pending for the next round.
     *
     * @param store where to apply them
     * @param repaired called with each key whose invalidation is now in L2, and its new version
     * @param cleared called after a pending clear was applied
     * @return a future completing when the round's calls have all completed
     */
    public CompletableFuture<Void> run(Store store, BiConsumer<String, Long> repaired, Runnable cleared) {
        if (pending() == 0 || !running.compareAndSet(false, true)) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> round;
        try {
            long clear = clearStamp.get();
            round = clear != 0 ? runClear(store, clear, cleared) : runKeys(store, repaired);
        } catch (RuntimeException e) {
            running.set(false);
            throw e;
        }
        return round.whenComplete((ok, error) -> running.set(false));
    }

    private CompletableFuture<Void> runClear(Store store, long clear, Runnable cleared) {
        long coveredUpTo = stamps.get(); // every key failed before this clear is sent is covered by it
        return store.clear().handle((ok, error) -> {
            if (error == null) {
                clearStamp.compareAndSet(clear, 0);
                keys.entrySet().removeIf(e -> e.getValue() <= coveredUpTo);
                cleared.run();
            }
            return null;
        });
    }

    private CompletableFuture<Void> runKeys(Store store, BiConsumer<String, Long> repaired) {
        List<CompletableFuture<?>> calls = new ArrayList<>();
        for (Map.Entry<String, Long> e : keys.entrySet()) {
            if (calls.size() == BATCH) {
                break;
            }
            String key = e.getKey();
            long stamp = e.getValue();
            CompletableFuture<Long> call;
            try {
                call = store.invalidate(key);
            } catch (RuntimeException ex) {
                call = CompletableFuture.failedFuture(ex);
            }
            calls.add(call.handle((version, error) -> {
                if (error == null && keys.remove(key, stamp)) {
                    repaired.accept(key, version);
                }
                return null;
            }));
        }
        return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new));
    }
}
