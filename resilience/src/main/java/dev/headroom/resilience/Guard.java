package dev.headroom.resilience;

import dev.headroom.core.Backoff;
import dev.headroom.core.Criticality;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.Ticker;
import dev.headroom.resilience.internal.GuardEngine;
import dev.headroom.resilience.internal.GuardSettings;
import dev.headroom.resilience.internal.LimitAlgorithm;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Protects callers from one dependency, and the dependency from its callers: built once per
 * dependency and reused for every call to it. A call passes these layers, outermost first, in this
 * fixed order:
 *
 * <ol>
 *   <li><b>fallback</b> (per call, optional): turns any failure or rejection into a value;
 *   <li><b>retry</b> (optional): failed attempts are retried with the {@link Backoff}'s delays, while
 *       the guard's shared {@link RetryBudget} has retries left and the request's deadline leaves time
 *       for the delay plus the minimum; a refused retry ends the call with the attempt's own failure;
 *   <li><b>deadline</b>: the {@link RequestContext} deadline must leave at least the minimum remaining
 *       time, or the attempt is refused ({@link RejectionReason#DEADLINE});
 *   <li><b>adaptive throttle</b> (optional): Google SRE client-side throttling ({@link
 *       RejectionReason#THROTTLED});
 *   <li><b>circuit breaker</b>: a Resilience4j {@code CircuitBreaker} ({@link
 *       RejectionReason#CIRCUIT_OPEN});
 *   <li><b>bulkhead</b>: a concurrency limit, fixed or {@linkplain AdaptiveLimit adaptive}, with
 *       criticality-aware shedding: as calls in flight near the limit, {@link Criticality#SHEDDABLE}
 *       work is refused first ({@link RejectionReason#SHED}), then {@link Criticality#DEFAULT};
 *       {@link Criticality#CRITICAL} work is admitted while any slot remains ({@link
 *       RejectionReason#BULKHEAD_FULL} once none does). The criticality is that of {@link
 *       RequestContext#current()};
 *   <li><b>timeout</b>: the guard's timeout, shrunk to what the deadline leaves ({@link
 *       GuardTimeoutException}).
 * </ol>
 *
 * <p>Rejections never call the dependency and are {@link GuardRejectedException}s with a reason and a
 * suggested retry-after. Only attempts that ran count for the circuit breaker and the adaptive limit.
 *
 * <p>Synchronous calls without a timeout (neither the guard's nor a deadline's) run on the calling
 * thread; with one, they run on the guard's executor while the caller waits at most that long, and
 * the work is interrupted when it passes. Its bulkhead slot is released only when the work really
 * ends. Asynchronous calls never block; a timed-out one is cancelled and its slot released at once.
 * Both kinds go through the same policy code. No lock is held while a dependency runs, so virtual
 * threads are never pinned.
 *
 * <p>Thread-safe. {@link #close()} removes the guard's meters and stops the threads it created; calls
 * after close are refused with {@link IllegalStateException}.
 *
 * <pre>{@code
 * Guard payments = Guard.builder("payments")
 *         .maxConcurrentCalls(20)
 *         .timeout(Duration.ofMillis(300))
 *         .retry(Backoff.builder().base(Duration.ofMillis(20)).maxAttempts(3).build())
 *         .meterRegistry(registry)
 *         .build();
 * Receipt r = payments.get(() -> client.charge(order), failure -> Receipt.pending(order));
 * }</pre>
 */
public final class Guard implements AutoCloseable {
    private final GuardEngine engine;
    private volatile boolean closed;

    private Guard(GuardEngine engine) {
        this.engine = engine;
    }

    /**
     * Starts a guard.
     *
     * @param name the dependency's name, used in metrics tags, logs and exception messages; keep it
     *     low-cardinality (one per dependency, never per request)
     * @return a builder with safe defaults
     * @throws NullPointerException if {@code name} is null
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public static Builder builder(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isBlank()) {
            throw new IllegalArgumentException("name must not be blank, got '" + name + "'");
        }
        return new Builder(name);
    }

    /**
     * Calls {@code supplier} through the guard.
     *
     * @param supplier the dependency call; its exceptions reach the caller as they are
     * @param <T> the result type
     * @return the supplier's value
     * @throws GuardRejectedException if the guard refused to call it
     * @throws GuardTimeoutException if the last attempt ran out of time
     * @throws CompletionException wrapping an {@link InterruptedException} if the caller was interrupted
     *     while waiting for an attempt on the guard's executor (the interrupt flag is set again)
     * @throws NullPointerException if {@code supplier} is null
     */
    public <T> T get(Supplier<T> supplier) {
        Objects.requireNonNull(supplier, "supplier");
        checkOpen();
        try {
            return engine.get(supplier);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            // only InterruptedException: the caller was interrupted while waiting for an attempt on the
            // guard's executor (its interrupt flag is set again); a Supplier throws nothing else checked
            throw new CompletionException(e);
        }
    }

    /**
     * Calls {@code supplier} through the guard, answering with {@code fallback} if it fails or is
     * refused.
     *
     * @param supplier the dependency call
     * @param fallback maps the failure (a {@link GuardRejectedException}, a {@link
     *     GuardTimeoutException} or the supplier's own exception) to a value; {@link Error}s are not
     *     given to it
     * @param <T> the result type
     * @return the supplier's or the fallback's value
     * @throws NullPointerException if an argument is null
     */
    public <T> T get(Supplier<T> supplier, Function<? super Exception, ? extends T> fallback) {
        Objects.requireNonNull(supplier, "supplier");
        Objects.requireNonNull(fallback, "fallback");
        checkOpen();
        try {
            return engine.get(supplier);
        } catch (Exception e) {
            return fallback.apply(e);
        }
    }

    /**
     * Calls {@code callable} through the guard; its checked exceptions reach the caller unwrapped.
     *
     * @param callable the dependency call
     * @param <T> the result type
     * @return the callable's value
     * @throws GuardRejectedException if the guard refused to call it
     * @throws GuardTimeoutException if the last attempt ran out of time
     * @throws Exception what the last attempt threw
     */
    public <T> T call(Callable<T> callable) throws Exception {
        Objects.requireNonNull(callable, "callable");
        checkOpen();
        return engine.call(callable);
    }

    /**
     * Calls an asynchronous dependency through the guard. Never blocks; the supplier runs on the
     * calling thread for the first attempt and on the guard's scheduler for retries, with the caller's
     * {@link RequestContext} current either way, so it must only start the work and return (a supplier
     * that blocks holds up the guard's timeouts). The returned stage completes on the thread that
     * ended the call: the dependency's, or the guard's timer thread for a timeout, so blocking
     * continuations belong on {@code *Async} methods with an executor of yours. Cancelling the
     * returned stage does not cancel the dependency's work in flight, but no further attempt is made.
     *
     * @param supplier starts the dependency call; a supplier that throws counts as a failed attempt
     * @param <T> the result type
     * @return a stage that completes with the value, the last attempt's failure, a {@link
     *     GuardTimeoutException} or a {@link GuardRejectedException}
     * @throws NullPointerException if {@code supplier} is null
     */
    public <T> CompletionStage<T> getAsync(Supplier<? extends CompletionStage<T>> supplier) {
        Objects.requireNonNull(supplier, "supplier");
        checkOpen();
        return engine.callAsync(supplier);
    }

    /**
     * As {@link #getAsync(Supplier)}, answering with {@code fallback} if the call fails or is refused.
     * The fallback runs on the guard's executor (or, once the guard is closed, on the thread that
     * completed the call) with the caller's {@link RequestContext} current, never on the guard's
     * timer thread, where a slow fallback would delay every other call's timeout.
     *
     * @param supplier starts the dependency call
     * @param fallback maps the failure to a value; {@link Error}s are not given to it (the stage
     *     completes with them)
     * @param <T> the result type
     * @return a stage that completes with the dependency's or the fallback's value
     * @throws NullPointerException if an argument is null
     */
    public <T> CompletionStage<T> getAsync(
            Supplier<? extends CompletionStage<T>> supplier, Function<? super Throwable, ? extends T> fallback) {
        Objects.requireNonNull(supplier, "supplier");
        Objects.requireNonNull(fallback, "fallback");
        checkOpen();
        RequestContext context = RequestContext.current();
        CompletableFuture<T> call = engine.callAsync(supplier);
        // on the guard's executor, never on the thread that completed the call (possibly the guard's
        // timer, which a slow fallback would stall for every other call), with the caller's context
        return call.exceptionallyAsync(
                failure -> {
                    if (failure instanceof Error error) {
                        throw error; // as in the synchronous variant: errors are not the fallback's
                    }
                    try (RequestContext.Scope scope = context.open()) {
                        return fallback.apply(failure);
                    }
                },
                engine.fallbackExecutor());
    }

    /** Returns the guard's name. */
    public String name() {
        return engine.name();
    }

    /** Returns the current concurrency limit (changes over time with an {@link AdaptiveLimit}). */
    public int limit() {
        return engine.limit();
    }

    /** Returns the calls in flight through this guard. */
    public int inFlight() {
        return engine.inFlight();
    }

    /**
     * Removes the guard's meters and lets the threads it created end once their work is done: calls in
     * flight still complete, time out and retry; new calls are refused. Idempotent.
     */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            engine.close();
        }
    }

    @Override
    public String toString() {
        return "Guard[" + engine.name() + ", limit=" + engine.limit() + ", inFlight=" + engine.inFlight() + "]";
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("guard '" + engine.name() + "' is closed");
        }
    }

    /**
     * Builds a {@link Guard}. Each setter validates its argument at once and refuses being called twice;
     * {@link #build()} refuses conflicting settings. Not thread-safe.
     */
    public static final class Builder {
        /** Default fixed concurrency limit: 25. */
        public static final int DEFAULT_MAX_CONCURRENT_CALLS = 25;
        /** Default timeout per attempt: 1 s. */
        public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(1);
        /** Default minimum remaining deadline to start an attempt: 5 ms. */
        public static final Duration DEFAULT_MIN_REMAINING = Duration.ofMillis(5);

        private final String name;
        private final Set<String> set = new HashSet<>();
        private int maxConcurrentCalls = DEFAULT_MAX_CONCURRENT_CALLS;
        private @Nullable AdaptiveLimit adaptiveLimit;
        private double sheddableShare = 0.7;
        private double defaultShare = 0.9;
        private long timeoutNanos = DEFAULT_TIMEOUT.toNanos();
        private long minRemainingNanos = DEFAULT_MIN_REMAINING.toNanos();
        private @Nullable CircuitBreakerPolicy circuitBreaker = CircuitBreakerPolicy.defaults();
        private @Nullable Backoff backoff;
        private @Nullable Predicate<Throwable> retryOn;
        private @Nullable RetryBudget retryBudget = RetryBudget.defaults();
        private double throttleK;
        private long rejectionRetryAfterNanos = Duration.ofSeconds(1).toNanos();
        private Ticker ticker = Ticker.system();
        private @Nullable RandomGenerator random;
        private @Nullable MeterRegistry meterRegistry;
        private @Nullable Executor executor;
        private @Nullable ScheduledExecutorService scheduler;

        private Builder(String name) {
            this.name = name;
        }

        /**
         * Sets a fixed concurrency limit (a semaphore bulkhead). Default 25. With the default {@link
         * #shedding} shares, DEFAULT work may use 90% of it (22 of 25) and SHEDDABLE work 70%; the rest
         * is kept for CRITICAL work.
         *
         * @param maxConcurrentCalls at least 1
         * @return this builder
         * @throws IllegalArgumentException if below 1
         * @throws IllegalStateException if already set
         */
        public Builder maxConcurrentCalls(int maxConcurrentCalls) {
            once("maxConcurrentCalls");
            if (maxConcurrentCalls < 1) {
                throw new IllegalArgumentException("maxConcurrentCalls must be >= 1, got " + maxConcurrentCalls);
            }
            this.maxConcurrentCalls = maxConcurrentCalls;
            return this;
        }

        /**
         * Replaces the fixed limit with one learnt from latency and failures.
         *
         * @param adaptiveLimit the algorithm and its bounds
         * @return this builder
         * @throws IllegalStateException if already set (conflicts with {@link #maxConcurrentCalls} at build)
         */
        public Builder adaptiveLimit(AdaptiveLimit adaptiveLimit) {
            once("adaptiveLimit");
            this.adaptiveLimit = Objects.requireNonNull(adaptiveLimit, "adaptiveLimit");
            return this;
        }

        /**
         * Sets the criticality ceilings as shares of the limit: SHEDDABLE calls are admitted while fewer
         * than {@code limit * sheddableShare} calls are in flight, DEFAULT while fewer than {@code limit *
         * defaultShare}, CRITICAL up to the limit (each ceiling is at least 1). Defaults 0.7 and 0.9. Pass
         * 1.0 and 1.0 to turn shedding off.
         *
         * @param sheddableShare in {@code (0, defaultShare]}
         * @param defaultShare in {@code [sheddableShare, 1]}
         * @return this builder
         * @throws IllegalArgumentException if out of range
         * @throws IllegalStateException if already set
         */
        public Builder shedding(double sheddableShare, double defaultShare) {
            once("shedding");
            if (!(defaultShare > 0 && defaultShare <= 1)) {
                throw new IllegalArgumentException("defaultShare must be in (0, 1], got " + defaultShare);
            }
            if (!(sheddableShare > 0 && sheddableShare <= defaultShare)) {
                throw new IllegalArgumentException(
                        "sheddableShare must be in (0, defaultShare=" + defaultShare + "], got " + sheddableShare);
            }
            this.sheddableShare = sheddableShare;
            this.defaultShare = defaultShare;
            return this;
        }

        /**
         * Sets the timeout of each attempt; a request deadline shrinks it further. Default 1 s.
         *
         * @param timeout positive
         * @return this builder
         * @throws IllegalArgumentException if zero or negative
         * @throws IllegalStateException if already set, or after {@link #noTimeout()}
         */
        public Builder timeout(Duration timeout) {
            once("timeout");
            this.timeoutNanos = positive("timeout", timeout);
            return this;
        }

        /**
         * Removes the guard's own timeout: attempts are then bounded only by a request deadline, if any,
         * and synchronous calls without a deadline run on the caller's thread.
         *
         * @return this builder
         * @throws IllegalStateException if a timeout was set
         */
        public Builder noTimeout() {
            once("timeout");
            this.timeoutNanos = 0;
            return this;
        }

        /**
         * Sets the least time a request's deadline must leave for an attempt to start (and, for a retry,
         * after its delay). Default 5 ms.
         *
         * @param minRemaining zero or positive
         * @return this builder
         * @throws IllegalArgumentException if negative
         * @throws IllegalStateException if already set
         */
        public Builder minimumRemainingTime(Duration minRemaining) {
            once("minimumRemainingTime");
            Objects.requireNonNull(minRemaining, "minimumRemainingTime");
            if (minRemaining.isNegative()) {
                throw new IllegalArgumentException("minimumRemainingTime must be >= 0, got " + minRemaining);
            }
            this.minRemainingNanos = Deadline.saturatedNanos(minRemaining);
            return this;
        }

        /**
         * Sets the circuit breaker's policy. Default {@link CircuitBreakerPolicy#defaults()}.
         *
         * @param policy the policy
         * @return this builder
         * @throws IllegalStateException if already set, or after {@link #noCircuitBreaker()}
         */
        public Builder circuitBreaker(CircuitBreakerPolicy policy) {
            once("circuitBreaker");
            this.circuitBreaker = Objects.requireNonNull(policy, "circuitBreaker");
            return this;
        }

        /**
         * Removes the circuit breaker.
         *
         * @return this builder
         * @throws IllegalStateException if a policy was set
         */
        public Builder noCircuitBreaker() {
            once("circuitBreaker");
            this.circuitBreaker = null;
            return this;
        }

        /**
         * Turns retries on: a failed attempt is retried after the backoff's delay, up to its {@link
         * Backoff#maxAttempts()} attempts in all, within the retry budget and the deadline. Default: no
         * retries. Use an idempotent dependency call.
         *
         * @param backoff the delays and the attempt count
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder retry(Backoff backoff) {
            once("retry");
            this.backoff = Objects.requireNonNull(backoff, "retry");
            return this;
        }

        /**
         * Sets which failures are retried. Default: every {@link Exception} except {@link
         * GuardRejectedException}s (this guard's are never retried, whatever the predicate says; a
         * nested guard's are retried only if the predicate says so); {@link Error}s never. An {@link InterruptedException} is
         * never retried, whatever the predicate says. A predicate that throws ends the call with its
         * exception (the failure it was judging attached as suppressed), sync and async alike.
         *
         * @param retryOn true for a failure worth retrying
         * @return this builder
         * @throws IllegalStateException if already set; at build, if {@link #retry} was not set
         */
        public Builder retryOn(Predicate<Throwable> retryOn) {
            once("retryOn");
            this.retryOn = Objects.requireNonNull(retryOn, "retryOn");
            return this;
        }

        /**
         * Sets the budget all retries through this guard share. Default {@link RetryBudget#defaults()}.
         *
         * @param budget the budget
         * @return this builder
         * @throws IllegalStateException if already set; at build, if {@link #retry} was not set
         */
        public Builder retryBudget(RetryBudget budget) {
            once("retryBudget");
            this.retryBudget = Objects.requireNonNull(budget, "retryBudget");
            return this;
        }

        /**
         * Turns on Google SRE client-side adaptive throttling: over the retry budget's window, a call is
         * refused locally ({@link RejectionReason#THROTTLED}) with probability {@code max(0, (requests −
         * k·accepts) / (requests + 1))}, where accepts are attempts that succeeded. Default: off. The SRE
         * book uses k = 2.
         *
         * @param k in {@code [1, 10]}; lower is more aggressive
         * @return this builder
         * @throws IllegalArgumentException if out of range
         * @throws IllegalStateException if already set
         */
        public Builder adaptiveThrottling(double k) {
            once("adaptiveThrottling");
            if (!(k >= 1 && k <= 10)) {
                throw new IllegalArgumentException("adaptiveThrottling k must be in [1, 10], got " + k);
            }
            this.throttleK = k;
            return this;
        }

        /**
         * Sets the retry-after that bulkhead, shedding and throttling rejections suggest. Default 1 s.
         *
         * @param retryAfter positive
         * @return this builder
         * @throws IllegalArgumentException if zero or negative
         * @throws IllegalStateException if already set
         */
        public Builder rejectionRetryAfter(Duration retryAfter) {
            once("rejectionRetryAfter");
            this.rejectionRetryAfterNanos = positive("rejectionRetryAfter", retryAfter);
            return this;
        }

        /**
         * Sets the time source for deadlines, latency samples and windows, mainly to make tests
         * deterministic. Timeouts and retry delays wait on real time. Default {@link Ticker#system()}.
         *
         * @param ticker the ticker
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder ticker(Ticker ticker) {
            once("ticker");
            this.ticker = Objects.requireNonNull(ticker, "ticker");
            return this;
        }

        /**
         * Sets the randomness of the adaptive throttle, mainly for tests; must be thread-safe. Default
         * {@link ThreadLocalRandom}.
         *
         * @param random the source
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder random(RandomGenerator random) {
            once("random");
            this.random = Objects.requireNonNull(random, "random");
            return this;
        }

        /**
         * Publishes the guard's meters ({@code headroom.resilience.*} and Resilience4j's circuit-breaker
         * meters) to a registry. Default: none. Resilience4j's breaker meters subscribe to its events,
         * so with a circuit breaker each call then allocates an event (about 168 B), as hand-written
         * Resilience4j code with the same meters does. Guard names must be unique per registry: {@link
         * #build} refuses a name whose guard is still open on the same registry.
         *
         * @param registry the registry
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder meterRegistry(MeterRegistry registry) {
            once("meterRegistry");
            this.meterRegistry = Objects.requireNonNull(registry, "meterRegistry");
            return this;
        }

        /**
         * Sets the executor that runs synchronous calls that have a timeout (a virtual-thread executor is
         * a good choice on JDK 21+). It must not queue work behind other guards' work, or a slow
         * dependency would delay calls to a healthy one. Default: a cached pool of daemon threads owned
         * by the guard (its size is bounded by the concurrency limit, plus timed-out work still running).
         *
         * @param executor the executor; the guard does not shut it down
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder executor(Executor executor) {
            once("executor");
            this.executor = Objects.requireNonNull(executor, "executor");
            return this;
        }

        /**
         * Sets the scheduler that fires asynchronous timeouts and retry delays. Default: one daemon
         * thread owned by the guard.
         *
         * @param scheduler the scheduler; the guard does not shut it down
         * @return this builder
         * @throws IllegalStateException if already set
         */
        public Builder scheduler(ScheduledExecutorService scheduler) {
            once("scheduler");
            this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
            return this;
        }

        /**
         * Builds the guard.
         *
         * @return the guard
         * @throws IllegalStateException if {@code maxConcurrentCalls} and {@code adaptiveLimit} are both
         *     set, or {@code retryOn}/{@code retryBudget} without {@code retry}, or if a guard of the
         *     same name is open on the same meter registry
         */
        public Guard build() {
            if (set.contains("maxConcurrentCalls") && set.contains("adaptiveLimit")) {
                throw new IllegalStateException("maxConcurrentCalls (" + maxConcurrentCalls
                        + ") and adaptiveLimit conflict: a guard has either a fixed or an adaptive limit");
            }
            if (backoff == null && (set.contains("retryOn") || set.contains("retryBudget"))) {
                throw new IllegalStateException("retryOn and retryBudget need retry(Backoff) to be set");
            }
            AdaptiveLimit adaptive = adaptiveLimit;
            LimitAlgorithm limit =
                    adaptive == null ? LimitAlgorithm.fixed(maxConcurrentCalls) : adaptive.newAlgorithm();
            Predicate<Throwable> retryable = retryOn;
            if (retryable == null) {
                retryable = t -> t instanceof Exception
                        && !(t instanceof GuardRejectedException)
                        && !(t instanceof InterruptedException);
            }
            RandomGenerator rnd = random;
            if (rnd == null) {
                rnd = new RandomGenerator() {
                    @Override
                    public long nextLong() {
                        return ThreadLocalRandom.current().nextLong();
                    }

                    @Override
                    public double nextDouble() {
                        return ThreadLocalRandom.current().nextDouble();
                    }
                };
            }
            return new Guard(new GuardEngine(new GuardSettings(
                    name,
                    limit,
                    sheddableShare,
                    defaultShare,
                    timeoutNanos,
                    minRemainingNanos,
                    circuitBreaker,
                    backoff,
                    retryable,
                    backoff == null ? null : retryBudget,
                    throttleK,
                    rejectionRetryAfterNanos,
                    ticker,
                    rnd,
                    meterRegistry,
                    executor,
                    scheduler)));
        }

        private void once(String field) {
            if (!set.add(field)) {
                throw new IllegalStateException(field + " was already set");
            }
        }

        private static long positive(String field, Duration value) {
            Objects.requireNonNull(value, field);
            if (value.isNegative() || value.isZero()) {
                throw new IllegalArgumentException(field + " must be positive, got " + value);
            }
            return Deadline.saturatedNanos(value);
        }
    }
}
