package dev.headroom.cache;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link RemoteStore} in a map, for unit tests of the cache's own logic (TTL is ignored). The
 * integration tests run the same behaviours against real Redis.
 */
final class InMemoryRemoteStore implements RemoteStore {
    final ConcurrentHashMap<String, RemoteValue> data = new ConcurrentHashMap<>();
    final AtomicBoolean down = new AtomicBoolean();
    /** Calls never answer: what a Redis that stopped reading its socket looks like. */
    final AtomicBoolean hanging = new AtomicBoolean();

    final AtomicInteger calls = new AtomicInteger();

    @Override
    public CompletionStage<RemoteValue> get(String key) {
        return call(() -> data.getOrDefault(key, RemoteValue.ABSENT));
    }

    @Override
    public CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
        long expectedVersion = read.version();
        return call(() -> {
            long[] written = {0};
            data.compute(key, (k, old) -> {
                long version = old == null ? 0 : old.version();
                if (version != expectedVersion) {
                    return old;
                }
                written[0] = version + 1;
                return new RemoteValue(value, version + 1);
            });
            return written[0];
        });
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        return call(() -> data.compute(key, (k, old) -> new RemoteValue(value, old == null ? 1 : old.version() + 1))
                .version());
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        return call(() -> data.compute(key, (k, old) -> new RemoteValue(null, old == null ? 1 : old.version() + 1))
                .version());
    }

    @Override
    public CompletionStage<Void> clear() {
        return call(() -> {
            data.clear();
            return null;
        });
    }

    /** Lease holders by key, when {@link #leases} is on (off: every lease is granted, as by default). */
    final ConcurrentHashMap<String, String> leaseHolders = new ConcurrentHashMap<>();

    final AtomicBoolean leases = new AtomicBoolean();

    /** The next lease request is applied, but its answer never comes: a reply lost to a timeout. */
    final AtomicBoolean nextLeaseAnswerLost = new AtomicBoolean();

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        if (!leases.get()) {
            return RemoteStore.super.tryLease(key, token, ttl);
        }
        calls.incrementAndGet();
        RemoteValue current = data.get(key);
        boolean granted = (current == null || current.value() == null) && leaseHolders.putIfAbsent(key, token) == null;
        if (nextLeaseAnswerLost.getAndSet(false)) {
            return new CompletableFuture<>();
        }
        return CompletableFuture.completedFuture(granted);
    }

    @Override
    public CompletionStage<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        if (!leases.get()) {
            return RemoteStore.super.tryRefreshLease(key, token, ttl, read);
        }
        calls.incrementAndGet();
        RemoteValue current = data.get(key);
        long version = current == null ? 0 : current.version();
        return CompletableFuture.completedFuture(
                version == read.version() && leaseHolders.putIfAbsent(key, token) == null);
    }

    @Override
    public CompletionStage<Void> releaseLease(String key, String token) {
        leaseHolders.remove(key, token);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void close() {}

    private <T> CompletionStage<T> call(java.util.function.Supplier<T> op) {
        calls.incrementAndGet();
        if (hanging.get()) {
            return new CompletableFuture<>();
        }
        if (down.get()) {
            return CompletableFuture.failedFuture(new IllegalStateException("store is down"));
        }
        return CompletableFuture.completedFuture(op.get());
    }
}
