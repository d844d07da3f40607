package dev.headroom.cache.internal;

import dev.headroom.cache.RemoteStore;
import dev.headroom.cache.RemoteValue;
import io.github.resilience4j.circuitbreaker.CallNotPermittedException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds every L2 call by a timeout and a Resilience4j circuit breaker. A call the breaker refuses
 * fails at once with {@link CallNotPermittedException}; callers treat any failure as "no L2".
 * Logs once per breaker state change, never per call.
 */
public final class GuardedRemoteStore {
    private static final Logger log = LoggerFactory.getLogger(GuardedRemoteStore.class);

    private final RemoteStore store;
    private final long timeoutNanos;
    private final CircuitBreaker breaker;
    private final CacheMetrics metrics;

    public GuardedRemoteStore(RemoteStore store, Duration timeout, CircuitBreaker breaker, CacheMetrics metrics) {
        this.store = store;
        this.timeoutNanos = timeout.toNanos();
        this.breaker = breaker;
        this.metrics = metrics;
    }

    /**
     * The L2 breaker: opens when half of the last 20 calls (at least 5) failed, stays open for {@code
     * openFor}, then lets 2 probe calls through.
     */
    public static CircuitBreaker newBreaker(String cacheName, Duration openFor) {
        return newBreaker(cacheName, defaultConfig(openFor));
    }

    /** The default breaker configuration, open for {@code openFor}. */
    public static CircuitBreakerConfig defaultConfig(Duration openFor) {
        return CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(20)
                .minimumNumberOfCalls(5)
                .failureRateThreshold(50)
                .waitDurationInOpenState(openFor)
                .permittedNumberOfCallsInHalfOpenState(2)
                .build();
    }

    /** A breaker with the given configuration, logging its state changes once each. */
    public static CircuitBreaker newBreaker(String cacheName, CircuitBreakerConfig config) {
        CircuitBreaker breaker = CircuitBreaker.of("headroom-cache-" + cacheName, config);
        breaker.getEventPublisher().onStateTransition(e -> {
            switch (e.getStateTransition().getToState()) {
                case OPEN ->
                    log.warn(
                            "cache '{}': L2 failing, circuit breaker open; serving from L1 and the loader until it"
                                    + " probes L2 again (failure rate {}%)",
                            cacheName, breaker.getMetrics().getFailureRate());
                case CLOSED -> log.info("cache '{}': L2 recovered, circuit breaker closed", cacheName);
                default -> log.debug("cache '{}': L2 breaker {}", cacheName, e.getStateTransition());
            }
        });
        return breaker;
    }

    public CompletableFuture<RemoteValue> get(String key) {
        return guard(() -> store.get(key));
    }

    public CompletableFuture<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
        return guard(() -> store.putIfVersion(key, value, read, ttl));
    }

    public CompletableFuture<Long> putIfVersion(
            String key, byte[] value, RemoteValue read, @Nullable String leaseToken, Duration ttl) {
        return leaseToken == null
                ? putIfVersion(key, value, read, ttl)
                : guard(() -> store.putIfVersion(key, value, read, leaseToken, ttl));
    }

    public CompletableFuture<Long> putAbsentIfVersion(String key, RemoteValue read, String leaseToken, Duration ttl) {
        return guard(() -> store.putAbsentIfVersion(key, read, leaseToken, ttl));
    }

    public CompletableFuture<Long> put(String key, byte[] value, Duration ttl) {
        return write(() -> store.put(key, value, ttl));
    }

    public CompletableFuture<Long> invalidate(String key) {
        return write(() -> store.invalidate(key));
    }

    public CompletableFuture<Boolean> tryLease(String key, String token, Duration ttl) {
        return guard(() -> store.tryLease(key, token, ttl));
    }

    public CompletableFuture<Boolean> tryLease(String key, String token, Duration ttl, RemoteValue read) {
        return guard(() -> store.tryLease(key, token, ttl, read));
    }

    public CompletableFuture<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        return guard(() -> store.tryRefreshLease(key, token, ttl, read));
    }

    public CompletableFuture<Void> releaseLease(String key, String token) {
        return guard(() -> store.releaseLease(key, token));
    }

    public CompletableFuture<Void> clear() {
        return write(store::clear);
    }

    /** Like a write, not refused by an open breaker: a clear this store missed must be learned. */
    public CompletableFuture<Boolean> refreshClears() {
        return write(store::refreshClears);
    }

    public void close() {
        store.close();
    }

    /**
     * An explicit write (put, invalidation, clear): through the breaker while it is closed; while it
     * is open or probing, tried anyway (bounded by the timeout) and not recorded. The breaker spares
     * a failing L2 the reads; a write refused by this instance's breaker alone, while Redis would
     * take it, would leave the old value served everywhere.
     */
    private <T> CompletableFuture<T> write(Supplier<CompletionStage<T>> call) {
        if (breaker.getState() == CircuitBreaker.State.CLOSED) {
            return guard(call);
        }
        CompletableFuture<T> result = bounded(call);
        return result.whenComplete((v, error) -> {
            if (error != null) {
                metrics.l2Errors.increment();
            }
        });
    }

    private <T> CompletableFuture<T> bounded(Supplier<CompletionStage<T>> call) {
        try {
            return Timeouts.shared().within(call.get(), timeoutNanos);
        } catch (RuntimeException e) { // a store that throws instead of failing its stage
            return CompletableFuture.failedFuture(e);
        }
    }

    private <T> CompletableFuture<T> guard(Supplier<CompletionStage<T>> call) {
        if (!breaker.tryAcquirePermission()) {
            metrics.l2Rejected.increment();
            return CompletableFuture.failedFuture(CallNotPermittedException.createCallNotPermittedException(breaker));
        }
        CompletableFuture<T> result = bounded(call);
        // Durations matter to the breaker only for its slow-call rule, which is off (every call is
        // bounded by the timeout far below its 60 s default): two clock reads per call saved.
        return result.whenComplete((v, error) -> {
            if (error == null) {
                breaker.onSuccess(0, TimeUnit.NANOSECONDS);
            } else {
                metrics.l2Errors.increment();
                breaker.onError(0, TimeUnit.NANOSECONDS, error);
            }
        });
    }
}
