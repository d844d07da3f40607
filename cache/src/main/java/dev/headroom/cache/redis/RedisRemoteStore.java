package dev.headroom.cache.redis;

import dev.headroom.cache.RemoteStore;
import dev.headroom.cache.RemoteValue;
import dev.headroom.cache.internal.SharedClientResources;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.RedisCodec;
import io.lettuce.core.codec.StringCodec;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link RemoteStore} in Redis, through one shared Lettuce connection.
 *
 * <p>Each cache key is one Redis string, {@code <prefix>{<key>}}, holding the version, the clear
 * generation it was written under (omitted while 0) and the value: {@code
 * <version>[:<generation>]@<written at, Redis ms>|v<value bytes>}, or {@code
 * <version>[:<generation>]|-} once invalidated;
 * {@link #clear()} is one command that moves {@code <prefix>generation} on, after which older values
 * read as absent. Its load lease
 * is the string {@code <prefix>{<key>}:lease}. Keeping both in one key makes every operation a
 * single-key command or script — atomic, one round trip, and valid in Redis Cluster (the hash tag
 * puts the lease in the same slot). A read is one {@code GET} (it was an {@code HMGET} of a hash
 * until that measured 19% slower than a {@code GET}: benchmarks/RESULTS.md); a fenced write is one
 * Lua script that compares the version and writes. An invalidation drops the value and bumps the
 * version, keeping the version for {@code fenceTtl} so that a load in flight cannot write back.
 * Every put and invalidation sets the version to one more than before but at least Redis's {@code
 * TIME} in microseconds, so versions keep growing across the loss of the record (expiry, eviction,
 * a flush, a restart without persistence) as long as the Redis server's clock does not step back. A
 * string under the prefix in any other format is foreign: it reads as a miss with version -1 (so
 * the cache loads, and never writes over it fenced); a plain {@code put} or {@code invalidate}
 * replaces it.
 *
 * <p>Thread-safe. Failures complete the returned stages exceptionally; nothing is thrown.
 */
public final class RedisRemoteStore implements RemoteStore {

    /** The Lettuce codec this store's connections use: String keys, byte[] values. */
    public static final RedisCodec<String, byte[]> CODEC = RedisCodec.of(StringCodec.UTF8, ByteArrayCodec.INSTANCE);

    /**
     * Lua: the version and generation of the string at KEYS[1], from {@code <version>[:<gen>]|...}:
     * 0, 0 if absent; nil if it is not in our format.
     */
    private static final String VERSION_OF = """
            local function version_of(cur)
              if not cur then return 0, 0 end
              local sep = string.find(cur, '|', 1, true)
              if not sep then return nil, nil end
              local head = string.sub(cur, 1, sep - 1)
              local at = string.find(head, '@', 1, true)
              if at then head = string.sub(head, 1, at - 1) end
              local colon = string.find(head, ':', 1, true)
              if not colon then return tonumber(head), 0 end
              return tonumber(string.sub(head, 1, colon - 1)), tonumber(string.sub(head, colon + 1))
            end
            local function stamp(ver, gen)
              if gen == 0 then return string.format('%.0f', ver) end
              return string.format('%.0f', ver) .. ':' .. string.format('%.0f', gen)
            end
            local function written_now()
              local t = redis.call('TIME')
              return '@' .. string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
            end
            """;

    /**
     * Lua: the version a put or invalidation gives a key whose current version is {@code cur}: one
     * more, but at least Redis's clock in microseconds. So versions keep growing when the record is
     * lost (expired, evicted, flushed, not persisted across a restart): the next write starts from
     * the clock, not from 1, and an instance holding an older version in L1 still drops it. Both
     * numbers stay below 2^53, where Lua's doubles are exact.
     */
    private static final String NEXT_VERSION = """
            local function next_version(cur)
              local t = redis.call('TIME')
              local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
              if cur and cur >= now then return cur + 1 end
              return now
            end
            """;

    /**
     * Writes with the generation the value was read under, never over a newer generation's record,
     * and moves the version on: a second write-back fenced on the same read (a load abandoned at its
     * timeout, finishing after the load that replaced it) is then refused instead of overwriting
     * the newer value. With a lease token (ARGV[5]) and no record, the token must still hold the
     * lease (KEYS[2]), which every put and invalidation deletes: the record of a write made since
     * the read may have been evicted, and the key would read as absent again.
     */
    private static final String PUT_IF_VERSION = VERSION_OF + NEXT_VERSION + """
            local ver, gen = version_of(redis.call('GET', KEYS[1]))
            local read_gen = tonumber(ARGV[4])
            if ver == nil or ver ~= tonumber(ARGV[2]) or gen > read_gen then return 0 end
            if ver == 0 and ARGV[5] and redis.call('GET', KEYS[2]) ~= ARGV[5] then return 0 end
            local written = next_version(ver)
            redis.call('SET', KEYS[1], stamp(written, read_gen) .. written_now() .. '|v' .. ARGV[1], 'PX', ARGV[3])
            return written
            """;

    /** As PUT_IF_VERSION, writing the "found absent" record {@code |n} instead of a value. */
    private static final String PUT_ABSENT_IF_VERSION = VERSION_OF + NEXT_VERSION + """
            local ver, gen = version_of(redis.call('GET', KEYS[1]))
            local read_gen = tonumber(ARGV[3])
            if ver == nil or ver ~= tonumber(ARGV[1]) or gen > read_gen then return 0 end
            if ver == 0 and redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
            local written = next_version(ver)
            redis.call('SET', KEYS[1], stamp(written, read_gen) .. written_now() .. '|n', 'PX', ARGV[2])
            return written
            """;

    private static final String PUT = VERSION_OF + NEXT_VERSION + """
            local ver, gen = version_of(redis.call('GET', KEYS[1]))
            ver = next_version(ver)
            gen = math.max(gen or 0, tonumber(ARGV[3]))
            redis.call('SET', KEYS[1], stamp(ver, gen) .. written_now() .. '|v' .. ARGV[1], 'PX', ARGV[2])
            redis.call('DEL', KEYS[2])
            return ver
            """;
    private static final String INVALIDATE = VERSION_OF + NEXT_VERSION + """
            local ver, gen = version_of(redis.call('GET', KEYS[1]))
            ver = next_version(ver)
            gen = math.max(gen or 0, tonumber(ARGV[2]))
            redis.call('SET', KEYS[1], stamp(ver, gen) .. '|-', 'PX', ARGV[1])
            redis.call('DEL', KEYS[2])
            return ver
            """;
    /**
     * A clear: the store's generation becomes one more than before but at least Redis's clock in
     * microseconds (so it still grows if the generation key itself is lost); values stamped with an
     * older generation read as absent from then on.
     */
    private static final String CLEAR = NEXT_VERSION + """
            local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
            -- anything but a whole number Java can read back ('1e30', 20 digits) would make every
            -- later clear a silent no-op: start again from the clock
            if not cur or cur ~= math.floor(cur) or cur < 0 or cur > 9007199254740991 then cur = 0 end
            local gen = next_version(cur)
            redis.call('SET', KEYS[1], string.format('%.0f', gen))
            return gen
            """;
    /**
     * Refused while the key has a value of the current generation (ARGV[3]) or a holder, and, given
     * the version read (ARGV[4]), once the key is at another version: a holder's "found absent"
     * record written since the read.
     */
    private static final String TRY_LEASE = VERSION_OF + """
            local cur = redis.call('GET', KEYS[1])
            if cur then
              local sep = string.find(cur, '|', 1, true)
              local ver, gen = version_of(cur)
              if sep and string.sub(cur, sep + 1, sep + 1) == 'v' and gen and gen >= tonumber(ARGV[3]) then
                return 0
              end
            end
            if ARGV[4] then
              local ver = version_of(cur)
              if ver ~= nil and ver ~= tonumber(ARGV[4]) then return 0 end
            end
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
            return 0
            """;

    /** Granted only while the key is at the version read (ARGV[3]) and nobody holds the lease. */
    private static final String TRY_REFRESH_LEASE = VERSION_OF + """
            local ver, gen = version_of(redis.call('GET', KEYS[1]))
            if ver == nil or ver ~= tonumber(ARGV[3]) then return 0 end
            if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
            return 0
            """;

    private static final String RELEASE_LEASE = """
            if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
            return 0
            """;

    private static final RemoteValue FOREIGN = new RemoteValue(null, -1);

    private static final Logger log = LoggerFactory.getLogger(RedisRemoteStore.class);
    private static final long RECONNECT_DELAY_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** A connection the store opened itself: its async commands and how to close it. */
    private record Connected(RedisClusterAsyncCommands<String, byte[]> commands, AutoCloseable connection) {}

    private volatile @Nullable RedisClusterAsyncCommands<String, byte[]> redis;
    private volatile @Nullable AutoCloseable ownConnection;
    private final @Nullable Supplier<CompletionStage<Connected>> connector;
    private final AtomicBoolean connecting = new AtomicBoolean();
    private volatile long nextConnectAttempt;
    private volatile boolean closed;
    private final String prefix;
    /** {@code <prefix>generation}: no hash tag, so never mistaken for a cache key's string. */
    private final String generationKey;
    /** The latest clear generation this store has seen; values stamped older read as absent. */
    private final AtomicLong generation = new AtomicLong();
    /** The latest generation {@link #refreshClears()} has reported (or this store's own clear made). */
    private final AtomicLong reported = new AtomicLong();

    private final long fenceTtlMillis;
    private final @Nullable AutoCloseable owned;
    private final String where;

    private RedisRemoteStore(
            Builder b,
            @Nullable RedisClusterAsyncCommands<String, byte[]> redis,
            @Nullable AutoCloseable owned,
            @Nullable Supplier<CompletionStage<Connected>> connector,
            String where) {
        this.redis = redis;
        this.prefix = Objects.requireNonNull(b.keyPrefix);
        this.generationKey = prefix + "generation";
        this.fenceTtlMillis = b.fenceTtl.toMillis();
        this.owned = owned;
        // A connection is used only once the store knows the latest clear: before that, it would
        // serve values a clear made by another instance has retired.
        this.connector = connector == null ? null : () -> connector.get().thenCompose(this::withGeneration);
        this.where = where;
    }

    private CompletionStage<Connected> withGeneration(Connected c) {
        return c.commands().get(generationKey).handle((raw, error) -> {
            if (error != null) {
                closeQuietly(c.connection());
                throw error instanceof CompletionException ce ? ce : new CompletionException(error);
            }
            reported.accumulateAndGet(learnGeneration(raw), Math::max); // nothing was cached from this store yet
            return c;
        });
    }

    /** For given connections or commands: learn the latest clear before the first read, waiting up to 2 s. */
    private RedisRemoteStore learnGenerationAtStart() {
        try {
            refreshClears().toCompletableFuture().get(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn(
                    "Redis at {}: cannot read the latest clear generation at start ({}); learning it on the next"
                            + " refresh",
                    where,
                    e.toString());
        }
        return this;
    }

    /**
     * Connects a store built from a URI, waiting up to {@code wait}. If Redis cannot be reached the
     * store starts anyway: every call fails at once (the cache treats that as "no L2") and the
     * store tries again in the background, at most once a second, whenever it is called.
     */
    private RedisRemoteStore connectFirst(Duration wait) {
        CompletableFuture<Connected> first =
                Objects.requireNonNull(connector).get().toCompletableFuture();
        try {
            adopt(first.get(wait.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            connectFailed(first, e, true);
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            connectFailed(first, e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e, true);
        }
        return this;
    }

    /**
     * Takes a new connection as the store's, unless the store is closed or already has one (two
     * attempts can succeed: a first one that outlived the wait at start, and a later retry).
     *
     * @return whether it was taken; if not, it is closed
     */
    private synchronized boolean adopt(Connected c) {
        if (closed || redis != null) {
            closeQuietly(c.connection());
            return false;
        }
        ownConnection = c.connection();
        redis = c.commands();
        return true;
    }

    private void adoptLate(Connected c) {
        if (adopt(c)) {
            log.info("Redis at {} reachable: L2 in use", where);
        }
    }

    @SuppressWarnings("FutureReturnValueIgnored") // adoptLate is the whole reaction; a failed late attempt needs none
    private void connectFailed(CompletableFuture<Connected> attempt, Throwable error, boolean atStart) {
        nextConnectAttempt = System.nanoTime() + RECONNECT_DELAY_NANOS;
        // A slow attempt that succeeds after all is still adopted.
        attempt.thenAccept(this::adoptLate);
        if (atStart) {
            log.warn(
                    "Redis at {} not reachable at start ({}); serving without L2, retrying in the background",
                    where,
                    error.toString());
        } else {
            log.debug("Redis at {} still not reachable: {}", where, error.toString());
        }
    }

    /** The commands, or null while a store built from a URI has never connected. */
    private @Nullable RedisClusterAsyncCommands<String, byte[]> commands() {
        RedisClusterAsyncCommands<String, byte[]> r = redis;
        if (r == null && connector != null && !closed) {
            reconnect();
        }
        return r;
    }

    @SuppressWarnings("FutureReturnValueIgnored") // the callback handles both outcomes itself
    private void reconnect() {
        if (System.nanoTime() - nextConnectAttempt < 0 || !connecting.compareAndSet(false, true)) {
            return;
        }
        CompletableFuture<Connected> attempt;
        try {
            attempt = Objects.requireNonNull(connector).get().toCompletableFuture();
        } catch (RuntimeException e) {
            connecting.set(false);
            connectFailed(CompletableFuture.failedFuture(e), e, false);
            return;
        }
        attempt.whenComplete((c, error) -> {
            try {
                if (error != null) {
                    connectFailed(attempt, error, false);
                } else {
                    adoptLate(c);
                }
            } finally {
                connecting.set(false);
            }
        });
    }

    private <T> CompletionStage<T> notConnected() {
        return CompletableFuture.failedFuture(new RedisConnectionException(
                "not connected to Redis at " + where + " yet; retrying in the background"));
    }

    private static void closeQuietly(@Nullable AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                // closing what we opened; nothing a caller can do
            }
        }
    }

    /**
     * Starts building a store.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the Redis key that holds a cache key: {@code <prefix>{<key>}}, or {@code
     * <prefix>{~<key>}} for a key that starts with {@code '}'} or {@code '~'}. The key is the Redis
     * Cluster hash tag that puts its string and its lease in one slot; one starting with {@code '}'}
     * would make the tag empty, Redis would hash the whole strings and every script on both would
     * fail with CROSSSLOT. The {@code '~'} keeps the mapping one-to-one.
     */
    public String redisKey(String key) {
        char first = key.isEmpty() ? ' ' : key.charAt(0);
        return first == '}' || first == '~' ? prefix + "{~" + key + "}" : prefix + "{" + key + "}";
    }

    @Override
    public CompletionStage<RemoteValue> get(String key) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        return r == null ? notConnected() : r.get(redisKey(key)).thenApply(raw -> visible(parse(raw)));
    }

    /**
     * Reads {@code <version>|v<value>} or {@code <version>|-}. Anything else is foreign: no value
     * and version -1, so the cache loads instead of serving it and never writes over it fenced.
     */
    static RemoteValue parse(byte @Nullable [] raw) {
        if (raw == null) {
            return RemoteValue.ABSENT;
        }
        int i = digitsEnd(raw, 0);
        if (i == 0) {
            return FOREIGN;
        }
        long version = number(raw, 0, i);
        long generation = 0;
        if (i < raw.length && raw[i] == ':') {
            int end = digitsEnd(raw, i + 1);
            if (end == i + 1) {
                return FOREIGN;
            }
            generation = number(raw, i + 1, end);
            i = end;
        }
        long writtenAt = 0;
        if (i < raw.length && raw[i] == '@') {
            int end = digitsEnd(raw, i + 1);
            if (end == i + 1) {
                return FOREIGN;
            }
            writtenAt = number(raw, i + 1, end);
            i = end;
        }
        if (i + 1 >= raw.length || raw[i] != '|') {
            return FOREIGN;
        }
        byte flag = raw[i + 1];
        if (flag == '-' && i + 2 == raw.length) {
            return new RemoteValue(null, version, generation);
        }
        if (flag == 'n' && i + 2 == raw.length) {
            return new RemoteValue(null, version, generation, writtenAt, true);
        }
        if (flag == 'v') {
            return new RemoteValue(Arrays.copyOfRange(raw, i + 2, raw.length), version, generation, writtenAt);
        }
        return FOREIGN;
    }

    /** The end of the run of at most 18 ASCII digits at {@code from} (18: no long overflow). */
    private static int digitsEnd(byte[] raw, int from) {
        int i = from;
        while (i < raw.length && i - from < 18 && raw[i] >= '0' && raw[i] <= '9') {
            i++;
        }
        return i;
    }

    private static long number(byte[] raw, int from, int to) {
        long n = 0;
        for (int i = from; i < to; i++) {
            n = n * 10 + (raw[i] - '0');
        }
        return n;
    }

    /**
     * What a reader sees of a stored record: a value stamped before the latest clear this store knows
     * of is absent (its version kept, so versions still only grow); a record stamped with a newer
     * generation teaches this store that a clear happened. The generation returned is the one the
     * read was made under, for {@link #putIfVersion}.
     */
    private RemoteValue visible(RemoteValue stored) {
        if (stored.version() < 0) {
            return stored; // foreign
        }
        long known = generation.get(); // a plain read on the hot path; a write only to learn a clear
        if (stored.generation() > known) {
            known = generation.accumulateAndGet(stored.generation(), Math::max);
        }
        if (stored.generation() < known && (stored.value() != null || stored.foundAbsent())) {
            return new RemoteValue(null, stored.version(), known);
        }
        return stored.generation() == known
                ? stored
                : new RemoteValue(
                        stored.value(), stored.version(), known, stored.writtenAtMillis(), stored.foundAbsent());
    }

    @Override
    public CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
        return fencedWrite(key, value, read, null, ttl);
    }

    @Override
    public CompletionStage<Long> putIfVersion(
            String key, byte[] value, RemoteValue read, String leaseToken, Duration ttl) {
        return fencedWrite(key, value, read, leaseToken.getBytes(StandardCharsets.UTF_8), ttl);
    }

    private CompletionStage<Long> fencedWrite(
            String key, byte[] value, RemoteValue read, byte @Nullable [] leaseToken, Duration ttl) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        byte[] version = ascii(read.version());
        byte[] ttlMillis = ascii(Math.max(1, ttl.toMillis()));
        byte[] gen = ascii(read.generation());
        byte[][] args = leaseToken == null
                ? new byte[][] {value, version, ttlMillis, gen}
                : new byte[][] {value, version, ttlMillis, gen, leaseToken};
        return r.<Long>eval(PUT_IF_VERSION, ScriptOutputType.INTEGER, keyAndLease(key), args);
    }

    @Override
    public CompletionStage<Long> putAbsentIfVersion(String key, RemoteValue read, String leaseToken, Duration ttl) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(
                PUT_ABSENT_IF_VERSION,
                ScriptOutputType.INTEGER,
                keyAndLease(key),
                ascii(read.version()),
                ascii(Math.max(1, ttl.toMillis())),
                ascii(read.generation()),
                leaseToken.getBytes(StandardCharsets.UTF_8));
    }

    /** A key's value string and its lease: one hash tag, so one slot in a cluster. */
    private String[] keyAndLease(String key) {
        String valueKey = redisKey(key);
        return new String[] {valueKey, valueKey + ":lease"};
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(
                PUT,
                ScriptOutputType.INTEGER,
                keyAndLease(key),
                value,
                ascii(Math.max(1, ttl.toMillis())),
                ascii(generation.get()));
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(
                INVALIDATE, ScriptOutputType.INTEGER, keyAndLease(key), ascii(fenceTtlMillis), ascii(generation.get()));
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        return lease(key, token, ttl, -1);
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl, RemoteValue read) {
        return lease(key, token, ttl, read.version()); // a foreign value has no version of ours: unfenced
    }

    /** {@code TRY_LEASE}, fenced on {@code fencedOn} (ARGV[4]) unless it is negative. */
    private CompletionStage<Boolean> lease(String key, String token, Duration ttl, long fencedOn) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        byte[] tokenBytes = token.getBytes(StandardCharsets.UTF_8);
        byte[] ttlMillis = ascii(Math.max(1, ttl.toMillis()));
        byte[] gen = ascii(generation.get());
        byte[][] args = fencedOn < 0
                ? new byte[][] {tokenBytes, ttlMillis, gen}
                : new byte[][] {tokenBytes, ttlMillis, gen, ascii(fencedOn)};
        return r.<Long>eval(TRY_LEASE, ScriptOutputType.INTEGER, keyAndLease(key), args)
                .thenApply(granted -> granted == 1L);
    }

    @Override
    public CompletionStage<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(
                        TRY_REFRESH_LEASE,
                        ScriptOutputType.INTEGER,
                        keyAndLease(key),
                        token.getBytes(StandardCharsets.UTF_8),
                        ascii(Math.max(1, ttl.toMillis())),
                        ascii(read.version()))
                .thenApply(granted -> granted == 1L);
    }

    @Override
    public CompletionStage<Void> releaseLease(String key, String token) {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(
                        RELEASE_LEASE,
                        ScriptOutputType.INTEGER,
                        new String[] {redisKey(key) + ":lease"},
                        token.getBytes(StandardCharsets.UTF_8))
                .thenApply(deleted -> null);
    }

    /**
     * One command, whatever the number of keys: the store's generation moves on, and every value
     * stamped before reads as absent from then on (here at once; on other instances at their next
     * {@link #refreshClears()}). The old strings stay until their TTL, or until {@code allkeys-lru}
     * takes them. Keys of another store whose prefix merely starts the same way are not touched.
     */
    @Override
    public CompletionStage<Void> clear() {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.<Long>eval(CLEAR, ScriptOutputType.INTEGER, new String[] {generationKey})
                .thenAccept(gen -> reported.accumulateAndGet(generation.accumulateAndGet(gen, Math::max), Math::max));
    }

    @Override
    public CompletionStage<Boolean> refreshClears() {
        RedisClusterAsyncCommands<String, byte[]> r = commands();
        if (r == null) {
            return notConnected();
        }
        return r.get(generationKey).thenApply(raw -> {
            long gen = learnGeneration(raw);
            return gen > reported.getAndAccumulate(gen, Math::max);
        });
    }

    /** Takes the generation key's value (null: none yet) as the latest clear if it is newer. */
    private long learnGeneration(byte @Nullable [] raw) {
        return generation.accumulateAndGet(raw == null ? 0 : parseGeneration(raw), Math::max);
    }

    private static long parseGeneration(byte[] raw) {
        try {
            return Long.parseLong(new String(raw, StandardCharsets.US_ASCII));
        } catch (NumberFormatException e) {
            return 0; // not ours: it cannot move the generation back
        }
    }

    @Override
    public void close() {
        synchronized (this) { // no connection is adopted after this
            closed = true;
        }
        closeQuietly(ownConnection);
        closeQuietly(owned);
    }

    private static byte[] ascii(long n) {
        return Long.toString(n).getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    public String toString() {
        return "RedisRemoteStore[prefix=" + prefix + "]";
    }

    /** Builds a {@link RedisRemoteStore}. Not thread-safe. */
    public static final class Builder {
        /** How long {@link #build()} waits for a first connection before starting without one. */
        private static final Duration CONNECT_AT_START = Duration.ofSeconds(2);

        private @Nullable String keyPrefix;
        private @Nullable String uri;
        private @Nullable String clusterUri;
        private @Nullable StatefulRedisConnection<String, byte[]> connection;
        private @Nullable RedisClusterAsyncCommands<String, byte[]> commands;
        private Duration fenceTtl = Duration.ofHours(1);

        private Builder() {}

        /**
         * The prefix of every key this store writes, such as {@code "products:"}; {@link #clear()}
         * retires exactly the values under it (and not those of a prefix that merely starts the
         * same way). Required.
         *
         * @param keyPrefix 1 to 128 characters, no whitespace, no braces
         * @return this builder
         */
        public Builder keyPrefix(String keyPrefix) {
            Objects.requireNonNull(keyPrefix, "keyPrefix");
            if (keyPrefix.isEmpty()
                    || keyPrefix.length() > 128
                    || keyPrefix
                            .chars()
                            .anyMatch(c -> Character.isWhitespace(c)
                                    || c == '{'
                                    || c == '}'
                                    || Character.isSurrogate((char) c))) {
                // Braces would become the Redis Cluster hash tag of every key: one slot for the whole
                // cache, or keys and their leases in different slots. A surrogate half may be unpaired,
                // and UTF-8 would turn it into '?', sharing another prefix's keys.
                throw new IllegalArgumentException("keyPrefix must be 1 to 128 characters without whitespace,"
                        + " braces or surrogates, got '" + keyPrefix + "'");
            }
            this.keyPrefix = keyPrefix;
            return this;
        }

        /**
         * Connect to this Redis; the store owns (and closes) the client.
         *
         * @param uri such as {@code redis://127.0.0.1:6379}
         * @return this builder
         */
        public Builder uri(String uri) {
            Objects.requireNonNull(uri, "uri");
            RedisURI.create(uri); // validates, throwing IllegalArgumentException naming the URI
            this.uri = uri;
            return this;
        }

        /**
         * Connect to a Redis Cluster through one of its nodes; the store owns (and closes) the
         * client. Lettuce discovers the other nodes and follows slot moves.
         *
         * @param clusterUri such as {@code redis://127.0.0.1:7001}
         * @return this builder
         */
        public Builder clusterUri(String clusterUri) {
            Objects.requireNonNull(clusterUri, "clusterUri");
            RedisURI.create(clusterUri);
            this.clusterUri = clusterUri;
            return this;
        }

        /**
         * Use an existing connection made with {@link #CODEC}; the caller keeps owning it.
         *
         * @param connection an open connection
         * @return this builder
         */
        public Builder connection(StatefulRedisConnection<String, byte[]> connection) {
            this.connection = Objects.requireNonNull(connection, "connection");
            return this;
        }

        /**
         * Use existing async commands made with {@link #CODEC} — standalone, or a Redis Cluster
         * connection's {@code async()}; the caller keeps owning the connection.
         *
         * @param commands the commands
         * @return this builder
         */
        public Builder commands(RedisClusterAsyncCommands<String, byte[]> commands) {
            this.commands = Objects.requireNonNull(commands, "commands");
            return this;
        }

        /**
         * How long an invalidated key's version outlives its value, fencing loads slower than this
         * is pointless. Default 1 hour.
         *
         * @param fenceTtl positive
         * @return this builder
         */
        public Builder fenceTtl(Duration fenceTtl) {
            Objects.requireNonNull(fenceTtl, "fenceTtl");
            if (fenceTtl.compareTo(Duration.ofMillis(1)) < 0) {
                // Redis takes whole milliseconds: below one, every invalidation would be refused
                throw new IllegalArgumentException("fenceTtl must be at least 1 ms, got " + fenceTtl);
            }
            this.fenceTtl = fenceTtl;
            return this;
        }

        /**
         * Builds the store, connecting if given a URI.
         *
         * @return the store
         * @throws IllegalStateException if no prefix, or not exactly one of uri / connection /
         *     commands, was given
         * <p>Given a URI, waits up to 2 s for a first connection; if Redis cannot be reached the
         * store is built anyway (logged once), its calls fail at once, and it keeps trying to
         * connect in the background (at most once a second, while it is being called).
         */
        public RedisRemoteStore build() {
            if (keyPrefix == null) {
                throw new IllegalStateException("keyPrefix is required");
            }
            int sources = (uri != null ? 1 : 0)
                    + (clusterUri != null ? 1 : 0)
                    + (connection != null ? 1 : 0)
                    + (commands != null ? 1 : 0);
            if (sources != 1) {
                throw new IllegalStateException(
                        "set exactly one of uri, clusterUri, connection or commands (got " + sources + ")");
            }
            if (clusterUri != null) {
                RedisClusterClient cluster = RedisClusterClient.create(SharedClientResources.get(), clusterUri);
                // Node connections open lazily, so commands must wait for them; bound the queue and
                // each command's life instead, so an outage cannot pile up work for the reconnect.
                cluster.setOptions(ClusterClientOptions.builder()
                        .autoReconnect(true)
                        .requestQueueSize(4_096)
                        .timeoutOptions(TimeoutOptions.enabled(Duration.ofSeconds(5)))
                        .build());
                return new RedisRemoteStore(
                                this,
                                null,
                                cluster::shutdown,
                                // connect() rather than connectAsync(), which fails to load the
                                // topology here (Lettuce 7.7): on a short-lived daemon thread.
                                () -> CompletableFuture.supplyAsync(
                                        () -> {
                                            var c = cluster.connect(CODEC);
                                            return new Connected(c.async(), c);
                                        },
                                        task -> {
                                            Thread t = new Thread(task, "headroom-redis-cluster-connect");
                                            t.setDaemon(true);
                                            t.start();
                                        }),
                                clusterUri)
                        .connectFirst(CONNECT_AT_START);
            }
            if (commands != null) {
                return new RedisRemoteStore(this, commands, null, null, "(given commands)").learnGenerationAtStart();
            }
            if (connection != null) {
                return new RedisRemoteStore(this, connection.async(), null, null, "(given connection)")
                        .learnGenerationAtStart();
            }
            RedisClient client = RedisClient.create(SharedClientResources.get(), Objects.requireNonNull(uri));
            // While disconnected, fail commands at once instead of queueing them to flood Redis on
            // reconnect: the cache's breaker and loader take over meanwhile.
            client.setOptions(ClientOptions.builder()
                    .autoReconnect(true)
                    .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                    // bounded while connected too: past it a command fails at once (an L2 error)
                    // instead of queueing behind a Redis that stopped answering
                    .requestQueueSize(4_096)
                    .build());
            RedisURI redisUri = RedisURI.create(uri);
            return new RedisRemoteStore(
                            this,
                            null,
                            client::shutdown,
                            () -> client.connectAsync(CODEC, redisUri).thenApply(c -> new Connected(c.async(), c)),
                            redisUri.getHost() + ":" + redisUri.getPort())
                    .connectFirst(CONNECT_AT_START);
        }
    }
}
