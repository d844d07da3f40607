package dev.headroom.ratelimit;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import dev.headroom.core.Ticker;
import dev.headroom.ratelimit.internal.BucketPlan;
import dev.headroom.ratelimit.internal.KeyBucket;
import dev.headroom.ratelimit.internal.Keys;
import dev.headroom.ratelimit.internal.RateLimitMetrics;
import dev.headroom.ratelimit.internal.Reserve;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A rate limiter in this JVM: one token bucket per key, held in a bounded Caffeine map.
 *
 * <p><b>Promises.</b> Per key, the permits allowed over any interval never exceed what the policy's
 * bandwidths allow (exact integer arithmetic: tokens scaled by the period in microseconds, the same
 * as {@link dev.headroom.ratelimit.redis.RedisRateLimiter}'s script, and checked against Bucket4j's
 * buckets in the tests), as long as the key's bucket stays in the map. A key costs about 190 bytes
 * of heap with a 48-byte key string (one bandwidth), and a decision on a known key allocates only
 * its {@link Decision}, which the JIT removes when the caller does not keep it. A key idle for its policy's {@link RateLimitPolicy#fillTime() fill time} is dropped: its
 * bucket would be full again anyway, so forgetting it changes no decision. The map holds at most
 * {@code maxKeys} keys, so a flood of distinct keys cannot exhaust memory; when it is full, Caffeine
 * evicts the keys least likely to be used again (W-TinyLFU keeps frequent keys against a flood of
 * one-off keys). <b>An evicted key that comes back starts with a full bucket</b>: size {@code maxKeys}
 * above the number of keys active within one fill time, and watch {@code
 * headroom.ratelimit.keys.evicted}.
 *
 * <p>Metrics (tag {@code limiter}): {@code headroom.ratelimit.decisions{result, source}}, {@code
 * headroom.ratelimit.keys} (gauge), {@code headroom.ratelimit.keys.evicted} (gauge of size-evictions).
 * Never blocks, never calls the network; {@link #tryAcquireAsync} completes at once.
 */
public final class LocalRateLimiter implements RateLimiter, AutoCloseable {

    /** Policies compiled and kept; one evicted is compiled again for its next new key. */
    private static final int MAX_PLANS = 10_000;

    /**
     * Added to a key's fill time before Caffeine forgets it: Caffeine moves an expiry on a read only
     * when it changes by more than its tolerance (1 s), so without this a key read within 1 s of its
     * last refresh was forgotten up to 1 s early and came back full. The rest covers a thread paused
     * between finding a bucket and deciding on it.
     */
    private static final long EXPIRY_MARGIN_NANOS = 2_000_000_000L;

    private final Function<String, RateLimitPolicy> policies;
    /** Compiled policies, shared by their keys; bounded, for resolvers that make one per tenant. */
    private final Cache<RateLimitPolicy, BucketPlan> plans =
            Caffeine.newBuilder().maximumSize(MAX_PLANS).build();

    private final Cache<String, KeyBucket> buckets;
    private final Ticker ticker;
    private final long reserveMillionths;
    private final RateLimitMetrics metrics;
    private final java.util.concurrent.atomic.LongAdder evicted = new java.util.concurrent.atomic.LongAdder();

    private LocalRateLimiter(Builder b) {
        this.policies = b.policies;
        this.reserveMillionths = Reserve.millionths(b.reserve);
        Ticker ticker = b.ticker;
        this.ticker = ticker;
        this.buckets = Caffeine.newBuilder()
                .maximumSize(b.maxKeys)
                .ticker(ticker::read)
                .expireAfter(new Expiry<String, KeyBucket>() {
                    @Override
                    public long expireAfterCreate(String key, KeyBucket e, long now) {
                        return keepFor(e);
                    }

                    @Override
                    public long expireAfterUpdate(String key, KeyBucket e, long now, long current) {
                        return keepFor(e);
                    }

                    @Override
                    public long expireAfterRead(String key, KeyBucket e, long now, long current) {
                        return keepFor(e);
                    }
                })
                .removalListener(
                        (@Nullable String k,
                                @Nullable KeyBucket e,
                                com.github.benmanes.caffeine.cache.RemovalCause cause) -> {
                            if (cause == com.github.benmanes.caffeine.cache.RemovalCause.SIZE) {
                                evicted.increment();
                            }
                        })
                .executor(Runnable::run)
                .build();
        this.metrics = new RateLimitMetrics(b.registry, b.name);
        metrics.gauge("headroom.ratelimit.keys", buckets::estimatedSize);
        metrics.gauge("headroom.ratelimit.keys.evicted", evicted::sum);
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
        KeyBucket bucket = bucket(key, permits);
        Decision d = bucket.decide(permits, reserveMillionths > 0 && Reserve.shedable(), ticker.read());
        metrics.decided(d.allowed(), false);
        return d;
    }

    /** The same decision as {@link #tryAcquire(String, long)}; allocates nothing for a key held. */
    @Override
    public boolean tryConsume(String key, long permits) {
        KeyBucket bucket = bucket(key, permits);
        boolean allowed = bucket.take(permits, reserveMillionths > 0 && Reserve.shedable(), ticker.read());
        metrics.decided(allowed, false);
        return allowed;
    }

    private KeyBucket bucket(String key, long permits) {
        Keys.check(key);
        RateLimitPolicy policy = policy(key);
        Keys.checkPermits(policy, permits);
        KeyBucket bucket = buckets.getIfPresent(key);
        if (bucket == null) {
            // on a miss only: the capturing lambda would cost an allocation on every hit
            bucket = buckets.get(key, k -> KeyBucket.full(plan(policy), ticker.read()));
        }
        RateLimitPolicy held = bucket.plan().policy();
        if (held != policy && !held.equals(policy)) {
            // the key's policy changed: a bucket of the new one, as the Redis limiter's key does
            KeyBucket old = bucket;
            bucket = buckets.asMap()
                    .compute(
                            key,
                            (k, b) -> b != null && b != old && b.plan().policy().equals(policy)
                                    ? b
                                    : KeyBucket.full(plan(policy), ticker.read()));
        }
        return bucket;
    }

    @Override
    public CompletionStage<Decision> tryAcquireAsync(String key, long permits) {
        try {
            return CompletableFuture.completedFuture(tryAcquire(key, permits));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Keys held now (Caffeine's estimate). */
    public long keys() {
        buckets.cleanUp();
        return buckets.estimatedSize();
    }

    private RateLimitPolicy policy(String key) {
        RateLimitPolicy p = policies.apply(key);
        if (p == null) {
            throw new IllegalStateException("the policy resolver returned null for key '" + Keys.show(key) + "'");
        }
        return p;
    }

    private static long keepFor(KeyBucket e) {
        long fill = e.plan().fillNanos();
        return fill > Long.MAX_VALUE - EXPIRY_MARGIN_NANOS ? Long.MAX_VALUE : fill + EXPIRY_MARGIN_NANOS;
    }

    private BucketPlan plan(RateLimitPolicy policy) {
        return plans.get(policy, p -> new BucketPlan(p, reserveMillionths));
    }

    /** Removes the meters. Decisions still work. */
    @Override
    public void close() {
        metrics.close();
    }

    /** Configures a {@link LocalRateLimiter}. */
    public static final class Builder {
        private Function<String, RateLimitPolicy> policies = k -> {
            throw new IllegalStateException("no policy: call LocalRateLimiter.Builder.policy(...)");
        };
        private boolean policySet;
        private long maxKeys = 100_000;
        private Ticker ticker = Ticker.system();
        private MeterRegistry registry = new SimpleMeterRegistry();
        private String name = "default";
        private double reserve;

        private Builder() {}

        /**
         * Keeps the last {@code fraction} of each bandwidth's capacity for requests that are not
         * {@link dev.headroom.core.Criticality#SHEDDABLE} (criticality from {@link
         * dev.headroom.core.RequestContext}): a shedable request is allowed only if that many tokens
         * (rounded up) are left after it, in every bandwidth — the same rule as the Redis limiter's.
         * Default 0.
         *
         * @param fraction at least 0, below 1
         * @return this
         */
        public Builder reserveForCritical(double fraction) {
            this.reserve = Reserve.check(fraction);
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
         * A policy per key (tiers, anonymous vs authenticated). Called on every decision: make it
         * cheap, and return the same instance for the same policy (its bucket configuration is
         * cached per instance). A key whose policy changes keeps its old bucket until it expires.
         *
         * @param resolver never returns null
         * @return this
         */
        public Builder policies(Function<String, RateLimitPolicy> resolver) {
            this.policies = Objects.requireNonNull(resolver, "resolver");
            this.policySet = true;
            return this;
        }

        /**
         * The most keys held; default 100,000.
         *
         * @param maxKeys at least 1
         * @return this
         */
        public Builder maxKeys(long maxKeys) {
            if (maxKeys < 1) {
                throw new IllegalArgumentException("maxKeys must be >= 1, got " + maxKeys);
            }
            this.maxKeys = maxKeys;
            return this;
        }

        /**
         * The clock, for tests; default the system's.
         *
         * @param ticker nanoseconds
         * @return this
         */
        public Builder ticker(Ticker ticker) {
            this.ticker = Objects.requireNonNull(ticker, "ticker");
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
         * @throws IllegalStateException if no policy was given
         */
        public LocalRateLimiter build() {
            if (!policySet) {
                throw new IllegalStateException("no policy: call policy(...) or policies(...) before build()");
            }
            return new LocalRateLimiter(this);
        }
    }
}
