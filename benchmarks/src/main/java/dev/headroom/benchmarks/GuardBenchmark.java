package dev.headroom.benchmarks;

import dev.headroom.core.Backoff;
import dev.headroom.resilience.Guard;
import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.bulkhead.BulkheadConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The success path of a {@link Guard} beside the Resilience4j code a user would write by hand, in the
 * same run:
 *
 * <ul>
 *   <li>{@code guardBulkheadOnly} (a fixed concurrency limit, no timeout, no breaker, no retry) vs
 *       {@code rawBulkheadExecuteSupplier} ({@code Bulkhead.executeSupplier} on a semaphore bulkhead);
 *   <li>{@code guardFull} (limit + circuit breaker + retry with its budget) vs {@code rawStacked}:
 *       {@code Retry(CircuitBreaker(Bulkhead(supplier)))} decorated per call, as a call site with its
 *       own supplier does, and {@code rawStackedPredecorated}, decorated once.
 * </ul>
 *
 * <p>The dependency returns a field; every call succeeds, so no retry or rejection happens. Neither
 * side has a timeout (Resilience4j's TimeLimiter needs a future; the guard's hands sync work to an
 * executor): this measures the bookkeeping only.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GuardBenchmark {

    private final Object value = new Object();
    private final Supplier<Object> dependency = () -> value;

    private Bulkhead bulkhead;
    private Bulkhead stackBulkhead;
    private CircuitBreaker breaker;
    private Retry retry;
    private Supplier<Object> predecorated;
    private Guard bulkheadOnly;
    private Guard full;

    @Setup(Level.Trial)
    public void setUp() {
        BulkheadConfig bulkheadConfig = BulkheadConfig.custom()
                .maxConcurrentCalls(1000)
                .maxWaitDuration(Duration.ZERO)
                .build();
        bulkhead = Bulkhead.of("raw", bulkheadConfig);
        stackBulkhead = Bulkhead.of("raw-stack", bulkheadConfig);
        breaker = CircuitBreaker.of(
                "raw-stack",
                CircuitBreakerConfig.custom()
                        .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                        .slidingWindowSize(50)
                        .minimumNumberOfCalls(20)
                        .build());
        retry = Retry.of(
                "raw-stack",
                RetryConfig.custom()
                        .maxAttempts(3)
                        .waitDuration(Duration.ofMillis(100))
                        .build());
        predecorated = Retry.decorateSupplier(
                retry, CircuitBreaker.decorateSupplier(breaker, Bulkhead.decorateSupplier(stackBulkhead, dependency)));

        bulkheadOnly = Guard.builder("bulkhead-only")
                .maxConcurrentCalls(1000)
                .noTimeout()
                .noCircuitBreaker()
                .build();
        full = Guard.builder("full")
                .maxConcurrentCalls(1000)
                .noTimeout()
                .retry(Backoff.builder()
                        .base(Duration.ofMillis(100))
                        .maxAttempts(3)
                        .build())
                .build();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        bulkheadOnly.close();
        full.close();
    }

    @Benchmark
    public Object rawBulkheadExecuteSupplier() {
        return bulkhead.executeSupplier(dependency);
    }

    @Benchmark
    public Object guardBulkheadOnly() {
        return bulkheadOnly.get(dependency);
    }

    @Benchmark
    public Object rawStacked() {
        return Retry.decorateSupplier(
                        retry,
                        CircuitBreaker.decorateSupplier(breaker, Bulkhead.decorateSupplier(stackBulkhead, dependency)))
                .get();
    }

    @Benchmark
    public Object rawStackedPredecorated() {
        return predecorated.get();
    }

    @Benchmark
    public Object guardFull() {
        return full.get(dependency);
    }
}
