package dev.headroom.resilience.internal;

import dev.headroom.core.Backoff;
import dev.headroom.core.Ticker;
import dev.headroom.resilience.CircuitBreakerPolicy;
import dev.headroom.resilience.RetryBudget;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Predicate;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * A guard's validated, immutable configuration, as the builder hands it to the engine. Not API.
 *
 * @param timeoutNanos the per-attempt timeout, 0 for none
 * @param throttleK the SRE throttle's K, 0 when throttling is off
 * @param executor runs synchronous calls that have a timeout; null: the guard owns a cached pool
 * @param scheduler fires async timeouts and retry delays; null: the guard owns one thread
 */
public record GuardSettings(
        String name,
        LimitAlgorithm limit,
        double sheddableShare,
        double defaultShare,
        long timeoutNanos,
        long minRemainingNanos,
        @Nullable CircuitBreakerPolicy circuitBreaker,
        @Nullable Backoff backoff,
        Predicate<Throwable> retryOn,
        @Nullable RetryBudget retryBudget,
        double throttleK,
        long rejectionRetryAfterNanos,
        Ticker ticker,
        RandomGenerator random,
        @Nullable MeterRegistry meterRegistry,
        @Nullable Executor executor,
        @Nullable ScheduledExecutorService scheduler) {}
