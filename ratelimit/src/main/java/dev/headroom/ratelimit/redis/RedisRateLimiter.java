package dev.headroom.ratelimit.redis;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.LocalRateLimiter;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.RateLimiter;
import dev.headroom.ratelimit.internal.Keys;
import dev.headroom.ratelimit.internal.RateLimitMetrics;
import dev.headroom.ratelimit.internal.Reserve;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A rate limiter whose buckets live in Redis, shared by every instance that uses the same Redis,
 * prefix and policy names.
 *
 * <p><b>One command per decision.</b> Each decision is one {@code EVALSHA} of a script that reads the
 * bucket, refills it on Redis's own clock ({@code TIME}, so the instances' clocks do not matter),
 * takes the permits from every bandwidth or from none, and writes it back with an expiry of the
 * time it takes to fill (a full bucket is deleted: it is the same as a new one). After a Redis
 * restart or {@code SCRIPT FLUSH} the first decision gets {@code NOSCRIPT} and sends the script once
 * with {@code EVAL}. Works on standalone Redis and Redis Cluster (one key per decision).
 *
 * <p><b>Exact bound.</b> Over any interval, the permits allowed for one key, across all instances,
 * never exceed what the policy allows (integer arithmetic in the script; no read-then-write race,
 * because the script is atomic), as long as Redis keeps the key: a key lost to eviction ({@code
 * maxmemory} with an {@code allkeys-*} policy), {@code FLUSHALL} or a restart without persistence
 * starts full again. Give the limiter's Redis {@code noeviction} or a {@code volatile-*} policy.
 *
 * <p><b>Redis unreachable.</b> Each call waits at most {@code timeout} (default 100 ms) for Redis. A
 * failed or late call, and every call while the circuit breaker is open (after half of the last
 * 20 calls failed; it probes again after 1 s), is answered by the failure mode, never by an
 * exception: {@link FailureMode#FAIL_OPEN} decides with a local limiter in this JVM whose policy is
 * the Redis policy times {@code fallbackShare} (for N instances, 1/N keeps the total near the
 * limit), {@link FailureMode#FAIL_CLOSED} refuses with a retry-after of the breaker's wait. Such
 * decisions are marked {@link Decision#degraded()} and counted with {@code source=fallback}.
 *
 * <p>Metrics (tag {@code limiter}): {@code headroom.ratelimit.decisions{result, source}}, {@code
 * headroom.ratelimit.store.errors}, {@code headroom.ratelimit.redis.available} (1 while the breaker
 * is closed, 0 while it is open or probing).
 */
public final class RedisRateLimiter implements RateLimiter, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RedisRateLimiter.class);

    /** What to answer when Redis cannot. */
    public enum FailureMode {
        /** Decide with a local limiter holding this instance's share of the policy. */
        FAIL_OPEN,
        /** Refuse every request until Redis answers again. */
        FAIL_CLOSED
    }

    static final String SCRIPT = loadScript();
    static final String SHA = sha1(SCRIPT);

    private final RedisClusterAsyncCommands<String, String> redis;
    private final Function<String, RateLimitPolicy> policies;
    private final String prefix;
    private final long timeoutNanos;
    private final FailureMode failureMode;
    private final double fallbackShare;
    private final CircuitBreaker breaker;
    private final Duration openFor;
    private final long reserveMillionths;
    private final int leaseBatch;
    private final @Nullable Cache<String, Lease> leases;
    private final java.util.Set<String> fetching = ConcurrentHashMap.newKeySet();
    // per policy, bounded: a resolver may make one policy per tenant
    private final Cache<RateLimitPolicy, String> fingerprints = perPolicy();
    private final RateLimitMetrics metrics;
    private final LocalRateLimiter fallback;
    private final Cache<RateLimitPolicy, RateLimitPolicy> shares = perPolicy();
    private final Cache<RateLimitPolicy, String[]> arguments = perPolicy();

    private RedisRateLimiter(
            Builder b, RedisClusterAsyncCommands<String, String> redis, Function<String, RateLimitPolicy> policies) {
        this.redis = redis;
        this.policies = policies;
        this.prefix = b.prefix;
        this.timeoutNanos = b.timeout.toNanos();
        this.failureMode = b.failureMode;
        this.fallbackShare = b.fallbackShare;
        this.openFor = b.openFor;
        this.reserveMillionths = Reserve.millionths(b.reserve);
        this.leaseBatch = b.leaseBatch;
        this.leases = b.leaseBatch > 1
                ? Caffeine.newBuilder()
                        .maximumSize(b.fallbackMaxKeys)
                        .expireAfterWrite(b.leaseTtl)
                        .build()
                : null;
        this.breaker = CircuitBreaker.of(
                "headroom-ratelimit-" + b.name,
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(20)
                        .minimumNumberOfCalls(5)
                        .failureRateThreshold(50)
                        .waitDurationInOpenState(b.openFor)
                        .permittedNumberOfCallsInHalfOpenState(2)
                        .build());
        String name = b.name;
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN ->
                    log.warn(
                            "rate limiter '{}': Redis failing, circuit breaker open; deciding {} until it probes again",
                            name,
                            failureMode == FailureMode.FAIL_OPEN ? "with the local fallback" : "by refusing");
                case CLOSED -> log.info("rate limiter '{}': Redis answers again, circuit breaker closed", name);
                default -> log.debug("rate limiter '{}': breaker {}", name, e.getStateTransition());
            }
        });
        this.metrics = new RateLimitMetrics(b.registry, b.name);
        metrics.gauge(
                "headroom.ratelimit.redis.available", () -> breaker.getState() == CircuitBreaker.State.CLOSED ? 1 : 0);
        this.fallback = LocalRateLimiter.builder()
                .policies(key -> share(resolve(key)))
                .reserveForCritical(b.reserve)
                .maxKeys(b.fallbackMaxKeys)
                .name(b.name.length() <= 55 ? b.name + "-fallback" : "fallback")
                .build();
    }

    /**
     * A builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Decision tryAcquire(String key, long permits) {
        try {
            return tryAcquireAsync(key, permits).toCompletableFuture().join();
        } catch (CompletionException e) {
            // bad input fails the future: thrown here as itself, as the interface promises
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    @Override
    public CompletionStage<Decision> tryAcquireAsync(String key, long permits) {
        RateLimitPolicy policy;
        try {
            Keys.check(key);
            policy = resolve(key);
            Keys.checkPermits(policy, permits);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (!breaker.tryAcquirePermission()) {
            return CompletableFuture.completedFuture(degraded(key, permits, policy));
        }
        boolean shedable = reserveMillionths > 0 && Reserve.shedable();
        String redisKey = redisKey(policy, key);
        Cache<String, Lease> leased = leases;
        if (leased != null && !shedable) {
            Lease lease = leased.getIfPresent(redisKey);
            if (lease != null) {
                long left = lease.take(permits);
                if (left >= 0) {
                    // no call made: give the permission back, or half-open state (2 of them) never
                    // collects its results and stays half-open for good
                    breaker.releasePermission();
                    metrics.decided(true, false);
                    return CompletableFuture.completedFuture(
                            new Decision(true, left, Duration.ZERO, Duration.ZERO, policy, false));
                }
                long wait = lease.refusedUntil - System.nanoTime();
                if (wait > 0) {
                    breaker.releasePermission();
                    metrics.decided(false, false);
                    return CompletableFuture.completedFuture(
                            new Decision(false, 0, Duration.ofNanos(wait), Duration.ofNanos(wait), policy, false));
                }
            }
        }
        long start = System.nanoTime();
        String[] keys = {redisKey};
        // one batch fetch per key in flight per instance: the others take just their permits
        boolean fetch = leased != null && !shedable && fetching.add(redisKey);
        String[] args = args(policy, permits, shedable, fetch);
        CompletableFuture<List<Object>> call = evalsha(keys, args)
                .exceptionallyCompose(e -> unwrap(e) instanceof RedisNoScriptException
                        ? redis.<List<Object>>eval(SCRIPT, ScriptOutputType.MULTI, keys, args)
                                .toCompletableFuture()
                        : CompletableFuture.failedFuture(e))
                .orTimeout(timeoutNanos, TimeUnit.NANOSECONDS);
        return call.handle((reply, error) -> {
            if (fetch) {
                fetching.remove(redisKey);
            }
            if (error != null) {
                breaker.onError(System.nanoTime() - start, TimeUnit.NANOSECONDS, unwrap(error));
                metrics.storeError();
                log.debug("rate limiter: Redis call failed for policy '{}'", policy.name(), error);
                return degraded(key, permits, policy);
            }
            breaker.onSuccess(System.nanoTime() - start, TimeUnit.NANOSECONDS);
            Decision d = decision(reply, policy);
            if (leased != null && !shedable) {
                if (d.allowed()) {
                    long spare = reply.size() > 4 ? number(reply, 4) - permits : 0;
                    if (spare > 0) {
                        // concurrent calls of this instance may have left tokens: keep them, up to
                        // one batch (the rest is dropped: fewer admitted, never more)
                        leased.asMap()
                                .compute(
                                        redisKey,
                                        (k, old) -> new Lease(
                                                Math.min(leaseBatch, spare + (old == null ? 0 : old.drain())), 0));
                    }
                } else {
                    // refused: answer the same locally until a token can be back (at most the ttl),
                    // unless a concurrent call of this instance has leased tokens meanwhile
                    long until = System.nanoTime() + d.retryAfter().toNanos();
                    leased.asMap()
                            .compute(
                                    redisKey,
                                    (k, old) -> old != null && old.tokens.get() > 0 ? old : new Lease(0, until));
                }
            }
            metrics.decided(d.allowed(), false);
            return d;
        });
    }

    private static <V> Cache<RateLimitPolicy, V> perPolicy() {
        return Caffeine.newBuilder().maximumSize(10_000).build();
    }

    private CompletableFuture<List<Object>> evalsha(String[] keys, String[] args) {
        try {
            return redis.<List<Object>>evalsha(SHA, ScriptOutputType.MULTI, keys, args)
                    .toCompletableFuture();
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    private static Decision decision(List<Object> reply, RateLimitPolicy policy) {
        return new Decision(
                number(reply, 0) == 1,
                number(reply, 1),
                Duration.of(number(reply, 2), java.time.temporal.ChronoUnit.MICROS),
                Duration.of(number(reply, 3), java.time.temporal.ChronoUnit.MICROS),
                policy,
                false);
    }

    private static long number(List<Object> reply, int i) {
        Object o = reply.get(i);
        if (o instanceof Long l) {
            return Math.max(0, l);
        }
        throw new IllegalStateException("rate limit script replied " + reply + ": element " + i + " is not an integer");
    }

    private Decision degraded(String key, long permits, RateLimitPolicy policy) {
        Decision d;
        if (failureMode == FailureMode.FAIL_OPEN) {
            RateLimitPolicy share = share(policy);
            if (permits > share.maxPermits()) {
                // more than this instance's share could ever allow: refused, never charged partly
                d = new Decision(false, 0, openFor, openFor, policy, true);
            } else {
                Decision local = fallback.tryAcquire(key, permits);
                d = new Decision(
                        local.allowed(), local.remaining(), local.retryAfter(), local.resetAfter(), policy, true);
            }
        } else {
            // reset as long as the retry: with remaining 0, a reset of 0 would say "full now"
            d = new Decision(false, 0, openFor, openFor, policy, true);
        }
        metrics.decided(d.allowed(), true);
        return d;
    }

    /**
     * The bucket's Redis key: the prefix, the policy name, a fingerprint of its bandwidths, the key.
     * Policy names hold no {@code ':'} or {@code '#'}, so no two policies' keys can meet; a policy
     * whose bandwidths change gets new buckets instead of misreading the old state.
     */
    String redisKey(RateLimitPolicy policy, String key) {
        return prefix + policy.name() + "#" + fingerprints.get(policy, RedisRateLimiter::fingerprint) + ":" + key;
    }

    private static String fingerprint(RateLimitPolicy policy) {
        long h = 0xcbf29ce484222325L; // FNV-1a over the bandwidths' numbers
        for (Bandwidth b : policy.bandwidths()) {
            for (long v : new long[] {b.capacity(), b.refillTokens(), b.periodMicros(), b.greedy() ? 1 : 0}) {
                for (int i = 0; i < 8; i++) {
                    h ^= (v >>> (8 * i)) & 0xff;
                    h *= 0x100000001b3L;
                }
            }
        }
        return String.format(java.util.Locale.ROOT, "%08x", (int) (h ^ (h >>> 32)));
    }

    /** The policy times this instance's share, each number at least 1. */
    private RateLimitPolicy share(RateLimitPolicy policy) {
        return shares.get(policy, p -> {
            List<Bandwidth> scaled = new ArrayList<>();
            for (Bandwidth b : p.bandwidths()) {
                scaled.add(new Bandwidth(
                        Math.max(1, (long) Math.floor(b.capacity() * fallbackShare)),
                        Math.max(1, (long) Math.floor(b.refillTokens() * fallbackShare)),
                        b.refillPeriod(),
                        b.greedy()));
            }
            return new RateLimitPolicy(p.name(), scaled);
        });
    }

    private String[] args(RateLimitPolicy policy, long permits, boolean shedable, boolean lease) {
        String[] template = arguments.get(policy, p -> {
            List<String> a = new ArrayList<>();
            a.add("");
            a.add(Integer.toString(p.bandwidths().size()));
            a.add("0");
            for (Bandwidth b : p.bandwidths()) {
                a.add(Long.toString(b.capacity()));
                a.add(Long.toString(b.refillTokens()));
                a.add(Long.toString(b.periodMicros()));
                a.add(b.greedy() ? "1" : "0");
            }
            return a.toArray(new String[0]);
        });
        String[] args = template.clone();
        args[0] = Long.toString(permits);
        if (shedable) {
            args[2] = Long.toString(reserveMillionths);
        }
        if (lease) {
            // the batch, and the reserve it must not take (the permits themselves may use it)
            args = java.util.Arrays.copyOf(args, args.length + 2);
            args[args.length - 2] = Integer.toString(leaseBatch);
            args[args.length - 1] = Long.toString(reserveMillionths);
        }
        return args;
    }

    private RateLimitPolicy resolve(String key) {
        RateLimitPolicy p = policies.apply(key);
        if (p == null) {
            throw new IllegalStateException("the policy resolver returned null for key '" + Keys.show(key) + "'");
        }
        return p;
    }

    /** Tokens this instance took from Redis ahead of need, spent locally until they run out or expire. */
    private static final class Lease {
        private final java.util.concurrent.atomic.AtomicLong tokens;
        /** Until when (nanoTime) Redis said no token would be back; 0 if it did not refuse. */
        final long refusedUntil;

        Lease(long tokens, long refusedUntil) {
            this.tokens = new java.util.concurrent.atomic.AtomicLong(tokens);
            this.refusedUntil = refusedUntil;
        }

        /** Takes all the tokens left. */
        long drain() {
            return tokens.getAndSet(0);
        }

        /** Takes {@code permits}: the tokens left, or -1 (nothing taken) if there were too few. */
        long take(long permits) {
            while (true) {
                long t = tokens.get();
                if (t < permits) {
                    return -1;
                }
                if (tokens.compareAndSet(t, t - permits)) {
                    return t - permits;
                }
            }
        }
    }

    /** The circuit breaker's state, for tests and health checks. */
    public CircuitBreaker.State breakerState() {
        return breaker.getState();
    }

    /** Removes the meters; the Redis connection is the caller's. */
    @Override
    public void close() {
        metrics.close();
        fallback.close();
    }

    private static String loadScript() {
        try (InputStream in = RedisRateLimiter.class.getResourceAsStream("token_bucket.lua")) {
            if (in == null) {
                throw new IllegalStateException("token_bucket.lua missing from the headroom-ratelimit jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha1(String script) {
        try {
            return HexFormat.of()
                    .formatHex(MessageDigest.getInstance("SHA-1").digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Configures a {@link RedisRateLimiter}. */
    public static final class Builder {
        private @Nullable RedisClusterAsyncCommands<String, String> commands;
        private @Nullable Function<String, RateLimitPolicy> policies;
        private String prefix = "headroom:rl:";
        private Duration timeout = Duration.ofMillis(100);
        private Duration openFor = Duration.ofSeconds(1);
        private FailureMode failureMode = FailureMode.FAIL_OPEN;
        private double fallbackShare = 1.0;
        private long fallbackMaxKeys = 100_000;
        private double reserve;
        private int leaseBatch;
        private Duration leaseTtl = Duration.ofMillis(100);
        private MeterRegistry registry = new SimpleMeterRegistry();
        private String name = "default";

        private Builder() {}

        /**
         * The Redis commands to use, made with a {@code String} codec: a standalone connection's
         * {@code async()} or a Redis Cluster connection's. The connection stays the caller's (one
         * shared, pipelined connection serves every thread).
         *
         * @param commands the async commands
         * @return this
         */
        public Builder commands(RedisClusterAsyncCommands<String, String> commands) {
            this.commands = Objects.requireNonNull(commands, "commands");
            return this;
        }

        /**
         * One policy for every key.
         *
         * @param policy the policy
         * @return this
         */
        public Builder policy(RateLimitPolicy policy) {
            Objects.requireNonNull(policy, "policy");
            return policies(k -> policy);
        }

        /**
         * A policy per key. Called on every decision; return the same instance for the same policy.
         * The bucket's Redis key holds the policy name, so a key moved to another policy starts a new
         * bucket.
         *
         * @param resolver never returns null
         * @return this
         */
        public Builder policies(Function<String, RateLimitPolicy> resolver) {
            this.policies = Objects.requireNonNull(resolver, "resolver");
            return this;
        }

        /**
         * The prefix of every Redis key; default {@code headroom:rl:}. Keys are {@code prefix +
         * policy name + "#" + fingerprint of its bandwidths + ":" + key}.
         *
         * @param prefix 1 to 128 characters
         * @return this
         */
        public Builder keyPrefix(String prefix) {
            Objects.requireNonNull(prefix, "prefix");
            if (prefix.isEmpty() || prefix.length() > 128) {
                throw new IllegalArgumentException("keyPrefix must be 1-128 characters, got " + prefix.length());
            }
            this.prefix = prefix;
            return this;
        }

        /**
         * The longest wait for Redis per decision; default 100 ms.
         *
         * @param timeout 1 ms to 10 s
         * @return this
         */
        public Builder timeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.compareTo(Duration.ofMillis(1)) < 0 || timeout.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("timeout must be between 1 ms and 10 s, got " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * How long the breaker stays open before probing Redis again; default 1 s.
         *
         * @param openFor 10 ms to 10 min
         * @return this
         */
        public Builder openFor(Duration openFor) {
            Objects.requireNonNull(openFor, "openFor");
            if (openFor.compareTo(Duration.ofMillis(10)) < 0 || openFor.compareTo(Duration.ofMinutes(10)) > 0) {
                throw new IllegalArgumentException("openFor must be between 10 ms and 10 min, got " + openFor);
            }
            this.openFor = openFor;
            return this;
        }

        /**
         * What to answer when Redis cannot; default {@link FailureMode#FAIL_OPEN}.
         *
         * @param mode the mode
         * @return this
         */
        public Builder failureMode(FailureMode mode) {
            this.failureMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * The fraction of each policy the local fallback of {@link FailureMode#FAIL_OPEN} allows in
         * this instance; default 1.0. With N instances, 1/N keeps the total near the limit.
         *
         * @param share greater than 0, at most 1
         * @return this
         */
        public Builder fallbackShare(double share) {
            if (!(share > 0 && share <= 1)) {
                throw new IllegalArgumentException("fallbackShare must be in (0, 1], got " + share);
            }
            this.fallbackShare = share;
            return this;
        }

        /**
         * Keeps the last {@code fraction} of every bandwidth for requests that are not {@link
         * dev.headroom.core.Criticality#SHEDDABLE} (criticality from {@link
         * dev.headroom.core.RequestContext}): a shedable request is allowed only if, after it, that
         * much is left in each bandwidth (rounded up to whole tokens). Exact: checked in the same
         * script. Default 0.
         *
         * @param fraction at least 0, below 1
         * @return this
         */
        public Builder reserveForCritical(double fraction) {
            this.reserve = Reserve.check(fraction);
            return this;
        }

        /**
         * For very hot keys: each call that reaches Redis takes up to {@code batch} tokens (never
         * into a criticality reserve) and this instance spends the spare ones locally for up to
         * {@code ttl}, without a Redis command; unspent ones are dropped. A refusal is likewise
         * repeated locally until its retry-after (at most {@code ttl}). Far fewer commands, at a
         * price: tokens taken at one moment can be spent up to {@code ttl} later, so over any
         * interval the admitted count may exceed the exact bound by at most {@code batch ×
         * instances}, and an instance holding spare tokens makes others wait for them (under-
         * admission of at most the same). Shedable requests with a reserve never use leases. Off
         * (batch 0) by default.
         *
         * @param batch at least 2, at most 10,000
         * @param ttl how long spare tokens are kept, 1 ms to 10 s
         * @return this
         */
        public Builder leaseBatch(int batch, Duration ttl) {
            Objects.requireNonNull(ttl, "ttl");
            if (batch < 2 || batch > 10_000) {
                throw new IllegalArgumentException("leaseBatch must be between 2 and 10,000, got " + batch);
            }
            if (ttl.compareTo(Duration.ofMillis(1)) < 0 || ttl.compareTo(Duration.ofSeconds(10)) > 0) {
                throw new IllegalArgumentException("lease ttl must be between 1 ms and 10 s, got " + ttl);
            }
            this.leaseBatch = batch;
            this.leaseTtl = ttl;
            return this;
        }

        /**
         * The most keys the local fallback holds; default 100,000.
         *
         * @param maxKeys at least 1
         * @return this
         */
        public Builder fallbackMaxKeys(long maxKeys) {
            if (maxKeys < 1) {
                throw new IllegalArgumentException("fallbackMaxKeys must be >= 1, got " + maxKeys);
            }
            this.fallbackMaxKeys = maxKeys;
            return this;
        }

        /**
         * Where meters go; default a private registry.
         *
         * @param registry the registry
         * @return this
         */
        public Builder meterRegistry(MeterRegistry registry) {
            this.registry = Objects.requireNonNull(registry, "registry");
            return this;
        }

        /**
         * The {@code limiter} tag of the meters; default "default".
         *
         * @param name 1 to 64 characters
         * @return this
         */
        public Builder name(String name) {
            this.name = Keys.checkName(name);
            return this;
        }

        /**
         * Builds the limiter.
         *
         * @return the limiter
         * @throws IllegalStateException if the commands or the policy are missing
         */
        public RedisRateLimiter build() {
            RedisClusterAsyncCommands<String, String> c = commands;
            if (c == null) {
                throw new IllegalStateException("no Redis: call commands(connection.async()) before build()");
            }
            Function<String, RateLimitPolicy> p = policies;
            if (p == null) {
                throw new IllegalStateException("no policy: call policy(...) or policies(...) before build()");
            }
            return new RedisRateLimiter(this, c, p);
        }
    }
}
