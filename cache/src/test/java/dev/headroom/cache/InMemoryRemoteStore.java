package dev.headroom.cache;

import dev.headroom.core.Ticker;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A {@link RemoteStore} in a map, for unit tests of the cache's own logic, that keeps the hazards of
 * {@link dev.headroom.cache.redis.RedisRemoteStore} that the cache must cope with: values and leases expire after their TTL
 * (by an injectable {@link Ticker}), versions keep growing when a record is lost, {@link #clear()}
 * is a generation that other store objects on the same data ({@link #secondInstance()}) learn of
 * only through {@link #refreshClears()}, and leases are refused while the key has a value or a
 * holder, and expire. {@code RemoteStoreContract} holds it to the same
 * promises as the Redis store.
 *
 * <p>Thread-safe: every operation is atomic under one lock per shared data. The knobs ({@link
 * #down}, {@link #hanging}, {@link #nextLeaseAnswerLost}, {@link #leases}) belong to this store
 * object; the records ({@link #data}) and lease holders are shared with its second instances.
 */
final class InMemoryRemoteStore implements RemoteStore {

    /** What the invalidation of a key keeps its version for: RedisRemoteStore's default fence TTL. */
    private static final Duration FENCE_TTL = Duration.ofHours(1);

    /** What every store object on the same data shares: what Redis holds. */
    private static final class Shared {
        final ReentrantLock lock = new ReentrantLock();
        final Ticker ticker;
        /** The wall clock at {@link #tickAtStart}, so write times are epoch milliseconds, as Redis's. */
        final long epochMillisAtStart = System.currentTimeMillis();

        final long tickAtStart;
        final ConcurrentHashMap<String, RemoteValue> records = new ConcurrentHashMap<>();
        /** Ticker reading at which a record expires; a record without one (put by a test) never does. */
        final ConcurrentHashMap<String, Long> recordExpiry = new ConcurrentHashMap<>();

        final ConcurrentHashMap<String, String> leaseHolders = new ConcurrentHashMap<>();
        final ConcurrentHashMap<String, Long> leaseExpiry = new ConcurrentHashMap<>();
        /**
         * Never reset, so versions keep growing across the loss of a record (Redis: its clock in
         * microseconds).
         */
        final AtomicLong lastVersion = new AtomicLong();
        /** The latest clear: the generation key of Redis. */
        final AtomicLong generation = new AtomicLong();

        Shared(Ticker ticker) {
            this.ticker = ticker;
            this.tickAtStart = ticker.read();
        }

        long nowMillis() {
            return epochMillisAtStart + TimeUnit.NANOSECONDS.toMillis(ticker.read() - tickAtStart);
        }

        long expiryOf(Duration ttl) {
            return ticker.read() + Math.max(1, ttl.toMillis()) * 1_000_000L;
        }

        /** The key's record, or null if there is none or it has expired (then it is dropped). */
        @Nullable
        RemoteValue live(String key) {
            Long expiry = recordExpiry.get(key);
            if (expiry != null && ticker.read() - expiry >= 0) {
                records.remove(key);
                recordExpiry.remove(key);
            }
            return records.get(key);
        }

        void write(String key, RemoteValue record, Duration ttl) {
            records.put(key, record);
            recordExpiry.put(key, expiryOf(ttl));
        }

        /** One more than the key's version, and more than any version this data ever gave. */
        long nextVersion(@Nullable RemoteValue current) {
            long cur = current == null ? 0 : current.version();
            return lastVersion.updateAndGet(last -> Math.max(last, cur) + 1);
        }

        /** What every put and invalidation does to the key's lease, as Redis's scripts do. */
        void endLease(String key) {
            leaseHolders.remove(key);
            leaseExpiry.remove(key);
        }

        @Nullable
        String leaseHolder(String key) {
            Long expiry = leaseExpiry.get(key);
            if (expiry != null && ticker.read() - expiry >= 0) {
                String holder = leaseHolders.get(key);
                if (holder != null) {
                    leaseHolders.remove(key, holder);
                }
                leaseExpiry.remove(key);
            }
            return leaseHolders.get(key);
        }
    }

    private final Shared shared;

    /**
     * The records by key, as stored (generation and write time included), shared with second
     * instances. Tests may read them, put records that never expire, or remove them (a record lost
     * to eviction or a flush).
     */
    final ConcurrentHashMap<String, RemoteValue> data;

    /** Calls fail at once: what an unreachable Redis looks like. */
    final AtomicBoolean down = new AtomicBoolean();

    /** Calls never answer: what a Redis that stopped reading its socket looks like. */
    final AtomicBoolean hanging = new AtomicBoolean();

    final AtomicInteger calls = new AtomicInteger();

    /** Lease holders by key, shared with second instances. */
    final ConcurrentHashMap<String, String> leaseHolders;

    /** Leases as Redis grants them (on by default); off, every lease is granted, as the SPI's default does. */
    final AtomicBoolean leases = new AtomicBoolean(true);

    /** The next lease request is applied, but its answer never comes: a reply lost to a timeout. */
    final AtomicBoolean nextLeaseAnswerLost = new AtomicBoolean();

    /** The latest clear this store object knows of; values stamped older read as absent. */
    private final AtomicLong generation = new AtomicLong();

    /** The latest clear {@link #refreshClears()} reported, or this object's own clear made. */
    private final AtomicLong reported = new AtomicLong();

    /** A store on data of its own, timed by the system ticker (TTLs then pass only in real time). */
    InMemoryRemoteStore() {
        this(Ticker.system());
    }

    /**
     * A store on data of its own.
     *
     * @param ticker what TTLs of values and leases are measured by
     */
    InMemoryRemoteStore(Ticker ticker) {
        this(new Shared(ticker));
    }

    private InMemoryRemoteStore(Shared shared) {
        this.shared = shared;
        this.data = shared.records;
        this.leaseHolders = shared.leaseHolders;
        // As RedisRemoteStore reads the generation key before its first read: a new store object
        // never serves what a clear made before it retired.
        long latest = shared.generation.get();
        generation.set(latest);
        reported.set(latest);
    }

    /**
     * Another store object on this one's data, as another instance of the application would have:
     * it shares the records, versions, leases and the latest clear, but learns of a clear made
     * through another object only through {@link #refreshClears()}. Its knobs start as this one's
     * {@link #leases}, the others off.
     *
     * @return the new store object
     */
    InMemoryRemoteStore secondInstance() {
        InMemoryRemoteStore second = new InMemoryRemoteStore(shared);
        second.leases.set(leases.get());
        return second;
    }

    /**
     * Drops a key's record out from under the store, as eviction, a flush or a restart would.
     *
     * @param key the cache key
     */
    void lose(String key) {
        shared.lock.lock();
        try {
            shared.records.remove(key);
            shared.recordExpiry.remove(key);
        } finally {
            shared.lock.unlock();
        }
    }

    @Override
    public CompletionStage<RemoteValue> get(String key) {
        return call(() -> visible(shared.live(key)));
    }

    /** As {@code RedisRemoteStore.visible}: what a reader sees of a stored record. */
    private RemoteValue visible(@Nullable RemoteValue stored) {
        long known = generation.get();
        if (stored == null) {
            return known == 0 ? RemoteValue.ABSENT : new RemoteValue(null, 0, known);
        }
        if (stored.generation() > known) {
            known = generation.accumulateAndGet(stored.generation(), Math::max);
        }
        if (stored.generation() < known && (stored.value() != null || stored.foundAbsent())) {
            return new RemoteValue(null, stored.version(), known);
        }
        return new RemoteValue(stored.value(), stored.version(), known, stored.writtenAtMillis(), stored.foundAbsent());
    }

    @Override
    public CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
        return fencedWrite(key, value, read, null, ttl);
    }

    @Override
    public CompletionStage<Long> putIfVersion(
            String key, byte[] value, RemoteValue read, String leaseToken, Duration ttl) {
        return fencedWrite(key, value, read, leaseToken, ttl);
    }

    /**
     * Redis's PUT_IF_VERSION: at the version and generation read, and with no record, under the lease
     * if a token is given (a lost record would otherwise let through a load that read before it).
     */
    private CompletionStage<Long> fencedWrite(
            String key, byte[] value, RemoteValue read, @Nullable String leaseToken, Duration ttl) {
        return call(() -> {
            RemoteValue current = shared.live(key);
            if (!fenceHolds(key, current, read, leaseToken)) {
                return 0L;
            }
            long written = shared.nextVersion(current);
            shared.write(key, new RemoteValue(value, written, read.generation(), shared.nowMillis()), ttl);
            return written;
        });
    }

    @Override
    public CompletionStage<Long> putAbsentIfVersion(String key, RemoteValue read, String leaseToken, Duration ttl) {
        return call(() -> {
            RemoteValue current = shared.live(key);
            if (!fenceHolds(key, current, read, leaseToken)) {
                return 0L;
            }
            long written = shared.nextVersion(current);
            shared.write(key, new RemoteValue(null, written, read.generation(), shared.nowMillis(), true), ttl);
            return written;
        });
    }

    private boolean fenceHolds(
            String key, @Nullable RemoteValue current, RemoteValue read, @Nullable String leaseToken) {
        long version = current == null ? 0 : current.version();
        long gen = current == null ? 0 : current.generation();
        if (version != read.version() || gen > read.generation()) {
            return false;
        }
        return version != 0 || leaseToken == null || !leases.get() || leaseToken.equals(shared.leaseHolder(key));
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        return call(() -> {
            RemoteValue current = shared.live(key);
            shared.endLease(key);
            long version = shared.nextVersion(current);
            shared.write(key, new RemoteValue(value, version, generationOver(current), shared.nowMillis()), ttl);
            return version;
        });
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        return call(() -> {
            RemoteValue current = shared.live(key);
            shared.endLease(key);
            long version = shared.nextVersion(current);
            shared.write(key, new RemoteValue(null, version, generationOver(current)), FENCE_TTL);
            return version;
        });
    }

    /** The generation a plain write stamps: never older than the record's, nor than this object knows. */
    private long generationOver(@Nullable RemoteValue current) {
        return Math.max(current == null ? 0 : current.generation(), generation.get());
    }

    /** A new generation: every value written before reads as absent, here at once. */
    @Override
    public CompletionStage<Void> clear() {
        return call(() -> {
            long gen = shared.generation.incrementAndGet();
            reported.accumulateAndGet(generation.accumulateAndGet(gen, Math::max), Math::max);
            return null;
        });
    }

    @Override
    public CompletionStage<Boolean> refreshClears() {
        return call(() -> {
            long gen = generation.accumulateAndGet(shared.generation.get(), Math::max);
            return gen > reported.getAndAccumulate(gen, Math::max);
        });
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        return tryLease(key, token, ttl, null);
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl, @Nullable RemoteValue read) {
        if (!leases.get()) {
            return RemoteStore.super.tryLease(key, token, ttl);
        }
        CompletionStage<Boolean> answer = call(() -> {
            RemoteValue current = shared.live(key);
            if (current != null && current.value() != null && current.generation() >= generation.get()) {
                return false;
            }
            if (read != null && read.version() >= 0 && (current == null ? 0 : current.version()) != read.version()) {
                return false; // written since the read (a holder's "found absent" record, say)
            }
            if (shared.leaseHolder(key) != null) {
                return false;
            }
            shared.leaseHolders.put(key, token);
            shared.leaseExpiry.put(key, shared.expiryOf(ttl));
            return true;
        });
        return nextLeaseAnswerLost.getAndSet(false) ? new CompletableFuture<>() : answer;
    }

    @Override
    public CompletionStage<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        if (!leases.get()) {
            return RemoteStore.super.tryRefreshLease(key, token, ttl, read);
        }
        return call(() -> {
            RemoteValue current = shared.live(key);
            long version = current == null ? 0 : current.version();
            if (version != read.version() || shared.leaseHolder(key) != null) {
                return false;
            }
            shared.leaseHolders.put(key, token);
            shared.leaseExpiry.put(key, shared.expiryOf(ttl));
            return true;
        });
    }

    @Override
    public CompletionStage<Void> releaseLease(String key, String token) {
        return call(() -> {
            if (token.equals(shared.leaseHolder(key))) {
                shared.leaseHolders.remove(key, token);
                shared.leaseExpiry.remove(key);
            }
            return null;
        });
    }

    @Override
    public void close() {}

    /** Runs one operation atomically, unless this store object is down or hanging. */
    private <T> CompletionStage<T> call(Supplier<T> op) {
        calls.incrementAndGet();
        if (hanging.get()) {
            return new CompletableFuture<>();
        }
        if (down.get()) {
            return CompletableFuture.failedFuture(new IllegalStateException("store is down"));
        }
        shared.lock.lock();
        try {
            return CompletableFuture.completedFuture(op.get());
        } finally {
            shared.lock.unlock();
        }
    }
}
