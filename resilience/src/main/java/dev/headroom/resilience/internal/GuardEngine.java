package dev.headroom.resilience.internal;

import dev.headroom.core.Backoff;
import dev.headroom.core.Criticality;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.Ticker;
import dev.headroom.resilience.CircuitBreakerPolicy;
import dev.headroom.resilience.GuardRejectedException;
import dev.headroom.resilience.GuardTimeoutException;
import dev.headroom.resilience.RejectionReason;
import dev.headroom.resilience.RetryBudget;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetricsPublisher;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine behind a guard. The layers, outermost first, are fixed:
 *
 * <pre>
 *   fallback (Guard) → retry (Backoff, budget, deadline) → deadline check → adaptive throttle
 *     → circuit breaker (Resilience4j) → concurrency gate (limit + criticality) → timeout → call
 * </pre>
 *
 * <p>Every policy decision (admission, outcome recording, whether and when to retry) is made by the
 * methods of this class; the synchronous loop ({@link #call}) and the asynchronous one ({@link
 * AsyncCall}) only differ in how they wait. A synchronous call without a timeout runs on the caller's
 * thread (no hand-off, no allocation beyond the caller's lambda); with a timeout it runs on the
 * guard's executor and the caller waits with that bound, interrupting the work when it passes.
 *
 * <p>Thread-safe; no lock is held while a call runs. Not API.
 */
public final class GuardEngine implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GuardEngine.class);

    final String name;
    final ConcurrencyGate gate;
    final @Nullable CircuitBreaker breaker;
    final long timeoutNanos;
    final long minRemainingNanos;
    final @Nullable Backoff backoff;
    final Predicate<Throwable> retryOn;
    final @Nullable RetryAllowance allowance;
    final @Nullable AdaptiveThrottle throttle;
    final Ticker ticker;
    final ResilienceMetrics metrics;
    final Duration rejectionRetryAfter;
    final Duration openRetryAfter;
    final ScheduledExecutorService scheduler;
    /** Whether attempts need their duration (adaptive limit, breaker); else the clock is not read. */
    private final boolean timed;
    /** No clock, budget, throttle, breaker or timeout: a call without a deadline takes the plain path. */
    private final boolean plain;

    private final AtomicReference<CircuitBreaker.State> lastBreakerState =
            new AtomicReference<>(CircuitBreaker.State.CLOSED);
    private final Executor executor;
    private final Executor fallbackExecutor;
    private final boolean ownsScheduler;
    private final @Nullable ExecutorService ownedExecutor;
    private final @Nullable TaggedCircuitBreakerMetricsPublisher breakerMetrics;
    private final MeterRegistry registry;

    public GuardEngine(GuardSettings s) {
        this.name = s.name();
        this.gate = new ConcurrencyGate(s.limit(), s.sheddableShare(), s.defaultShare());
        this.timeoutNanos = s.timeoutNanos();
        this.minRemainingNanos = s.minRemainingNanos();
        this.backoff = s.backoff();
        this.retryOn = s.retryOn();
        this.ticker = s.ticker();
        RetryBudget budget = s.retryBudget();
        this.allowance = budget == null || backoff == null
                ? null
                : new RetryAllowance(
                        budget.ratio(), budget.minRetriesPerSecond(), Deadline.saturatedNanos(budget.window()));
        long throttleWindow = budget == null
                ? Duration.ofSeconds(10).toNanos()
                : budget.window().toNanos();
        this.throttle = s.throttleK() > 0 ? new AdaptiveThrottle(s.throttleK(), throttleWindow, s.random()) : null;
        this.rejectionRetryAfter = Duration.ofNanos(s.rejectionRetryAfterNanos());
        MeterRegistry given = s.meterRegistry();
        if (given != null
                && given.find("headroom.resilience.limit").tag("guard", name).gauge() != null) {
            // Micrometer would hand this guard the other's meters (its gauges reading the other guard),
            // and closing either would remove both guards' meters
            throw new IllegalStateException("a guard named '" + name
                    + "' is already registered on this MeterRegistry: guard names must be unique per registry"
                    + " (close the other guard first, or choose another name)");
        }
        this.registry = given == null ? new SimpleMeterRegistry() : given;

        CircuitBreakerPolicy policy = s.circuitBreaker();
        if (policy == null) {
            this.breaker = null;
            this.breakerMetrics = null;
            this.openRetryAfter = rejectionRetryAfter;
        } else {
            CircuitBreaker cb = CircuitBreaker.of(
                    name,
                    CircuitBreakerConfig.custom()
                            .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                            .slidingWindowSize(policy.slidingWindowSize())
                            .minimumNumberOfCalls(policy.minimumCalls())
                            .failureRateThreshold(policy.failureRatePercent())
                            .waitDurationInOpenState(policy.waitInOpenState())
                            .permittedNumberOfCallsInHalfOpenState(policy.callsInHalfOpenState())
                            .writableStackTraceEnabled(false)
                            .build());
            // No event consumer of ours: with one, Resilience4j allocates an event for every call.
            // State changes are noticed by comparing the state after each breaker interaction.
            this.breaker = cb;
            this.lastBreakerState.set(cb.getState());
            this.openRetryAfter = policy.waitInOpenState();
            if (given != null) {
                TaggedCircuitBreakerMetricsPublisher publisher = new TaggedCircuitBreakerMetricsPublisher(given);
                publisher.publishMetrics(cb);
                this.breakerMetrics = publisher;
            } else {
                this.breakerMetrics = null;
            }
        }

        // after everything that can refuse the settings: a guard that fails to build leaves no meters
        this.metrics = new ResilienceMetrics(registry, name);
        this.timed = gate.isAdaptive() || breaker != null;
        this.plain = !timed && allowance == null && throttle == null && timeoutNanos == 0;
        metrics.gauge("headroom.resilience.limit", gate::limit);
        metrics.gauge("headroom.resilience.inflight", gate::inFlight);
        RetryAllowance a = allowance;
        if (a != null) {
            metrics.gauge("headroom.resilience.retry.budget.available", () -> a.available(ticker.read()));
        }
        AdaptiveThrottle t = throttle;
        if (t != null) {
            metrics.gauge("headroom.resilience.throttle.probability", () -> t.rejectionProbability(ticker.read()));
        }

        ScheduledExecutorService givenScheduler = s.scheduler();
        if (givenScheduler == null) {
            ScheduledThreadPoolExecutor own =
                    new ScheduledThreadPoolExecutor(1, daemon("headroom-guard-" + name + "-timer"));
            own.setRemoveOnCancelPolicy(true);
            this.scheduler = own;
            this.ownsScheduler = true;
        } else {
            this.scheduler = givenScheduler;
            this.ownsScheduler = false;
        }
        Executor givenExecutor = s.executor();
        if (givenExecutor == null) {
            ExecutorService own = Executors.newCachedThreadPool(daemon("headroom-guard-" + name));
            this.executor = own;
            this.ownedExecutor = own;
        } else {
            this.executor = givenExecutor;
            this.ownedExecutor = null;
        }
        Executor runs = this.executor;
        this.fallbackExecutor = work -> {
            try {
                runs.execute(work);
            } catch (RejectedExecutionException refused) {
                work.run();
            }
        };
    }

    // ---------------------------------------------------------------- shared policy

    /**
     * The timeout of the next attempt: the guard's, shrunk to what the deadline leaves; 0 for none.
     *
     * @throws GuardRejectedException (DEADLINE) if the deadline leaves less than the minimum
     */
    long attemptTimeout(@Nullable Deadline deadline, Criticality criticality) {
        if (deadline == null) {
            return timeoutNanos;
        }
        long remaining = deadline.remainingNanos();
        if (remaining < minRemainingNanos || remaining <= 0) {
            throw reject(RejectionReason.DEADLINE, criticality);
        }
        return timeoutNanos == 0 ? remaining : Math.min(timeoutNanos, remaining);
    }

    /**
     * Passes the throttle, the breaker and the gate, in that order, undoing what was taken if a later
     * one refuses.
     *
     * @return the calls in flight once admitted, this one included
     * @throws GuardRejectedException if one of them refuses
     */
    int admit(Criticality criticality) {
        AdaptiveThrottle t = throttle;
        if (t != null && t.reject(ticker.read())) {
            throw reject(RejectionReason.THROTTLED, criticality);
        }
        CircuitBreaker cb = breaker;
        if (cb != null) {
            if (!cb.tryAcquirePermission()) {
                noticeBreakerState(cb);
                throw reject(RejectionReason.CIRCUIT_OPEN, criticality);
            }
            if (lastBreakerState.get() != CircuitBreaker.State.CLOSED) {
                noticeBreakerState(cb); // a permission may have moved it from OPEN to HALF_OPEN
            }
        }
        int admitted = gate.tryAcquire(criticality);
        if (admitted < 0) {
            if (cb != null) {
                cb.releasePermission();
            }
            throw reject(
                    admitted == ConcurrencyGate.FULL ? RejectionReason.BULKHEAD_FULL : RejectionReason.SHED,
                    criticality);
        }
        if (t != null) {
            t.sent(ticker.read());
        }
        return admitted;
    }

    /** Logs a breaker state change once, by the thread that first records it. */
    private void noticeBreakerState(CircuitBreaker cb) {
        CircuitBreaker.State now = cb.getState();
        CircuitBreaker.State seen = lastBreakerState.get();
        if (now != seen && lastBreakerState.compareAndSet(seen, now)) {
            if (now == CircuitBreaker.State.CLOSED) {
                log.info("guard '{}': circuit breaker {} -> {}", name, seen, now);
            } else {
                log.warn("guard '{}': circuit breaker {} -> {}", name, seen, now);
            }
        }
    }

    /** Records an attempt's outcome with the breaker and the throttle (not the gate: see callers). */
    void recordOutcome(long durationNanos, @Nullable Throwable failure) {
        CircuitBreaker cb = breaker;
        if (cb != null) {
            if (failure == null) {
                cb.onSuccess(durationNanos, TimeUnit.NANOSECONDS);
            } else {
                cb.onError(durationNanos, TimeUnit.NANOSECONDS, failure);
            }
            noticeBreakerState(cb);
        }
        AdaptiveThrottle t = throttle;
        if (t != null && failure == null) {
            t.accepted(ticker.read());
        }
    }

    /**
     * Decides whether a failed attempt is retried.
     *
     * @param state the call's retry state
     * @param failure the attempt's failure, unwrapped
     * @return the delay before the next attempt in nanoseconds, or -1 for no retry
     */
    long retryDelay(RetryState state, Throwable failure, @Nullable Deadline deadline) {
        Backoff b = backoff;
        if (b == null
                || (failure instanceof GuardRejectedException own && own.guard().equals(name))
                || failure instanceof InterruptedException) {
            // this guard's own refusals are final; an interrupt asks the caller's thread to stop;
            // a nested guard's refusal is the dependency's failure, for retryOn to judge
            return -1;
        }
        boolean retryable;
        try {
            retryable = retryOn.test(failure);
        } catch (RuntimeException | Error e) {
            e.addSuppressed(failure); // the predicate's bug reaches the caller, with what it was judging
            throw e;
        }
        if (!retryable) {
            return -1;
        }
        if (!b.allowsRetryAfter(state.failedAttempts + 1)) {
            return -1;
        }
        long delay = b.delayNanos(state.failedAttempts + 1, state.previousDelayNanos);
        if (deadline != null) {
            long remaining = deadline.remainingNanos();
            // written so that a huge delay cannot overflow past an expired deadline
            if (remaining <= 0 || delay > remaining - Math.max(1, minRemainingNanos)) {
                metrics.retryStoppedByDeadline();
                return -1;
            }
        }
        RetryAllowance a = allowance;
        if (a != null && !a.tryRetry(ticker.read())) {
            metrics.retryRefusedByBudget();
            return -1;
        }
        state.failedAttempts++;
        state.previousDelayNanos = delay;
        metrics.retried();
        return delay;
    }

    GuardRejectedException reject(RejectionReason reason, Criticality criticality) {
        metrics.rejected(reason, criticality);
        Duration retryAfter = switch (reason) {
            case DEADLINE -> Duration.ZERO;
            case CIRCUIT_OPEN -> openRetryAfter;
            default -> rejectionRetryAfter;
        };
        return new GuardRejectedException(name, reason, criticality, retryAfter);
    }

    /** Undoes {@link #admit} for an attempt that will not run. */
    void releaseUnused() {
        gate.releaseUnused();
        releaseBreakerPermission();
    }

    /**
     * Gives back the breaker permission of an attempt that never ran, right after its admission, so it
     * counts neither as a success nor as a failure.
     */
    private void releaseBreakerPermission() {
        CircuitBreaker cb = breaker;
        if (cb != null) {
            cb.releasePermission();
        }
    }

    /** The breaker's state right after an admission (null without a breaker). */
    CircuitBreaker.@Nullable State breakerState() {
        CircuitBreaker cb = breaker;
        return cb == null ? null : cb.getState();
    }

    /**
     * Gives back the permission of an attempt whose outcome says nothing about the dependency (its
     * caller was interrupted, or the caller's deadline, not the guard's timeout, cut it short). Only
     * a half-open breaker counts permissions, and only one taken in the same half-open state may be
     * given back: a permission taken while closed, given back after the breaker went half-open, would
     * let one more trial call through.
     */
    void releaseBreakerPermission(CircuitBreaker.@Nullable State admittedIn) {
        CircuitBreaker cb = breaker;
        if (cb != null
                && admittedIn == CircuitBreaker.State.HALF_OPEN
                && cb.getState() == CircuitBreaker.State.HALF_OPEN) {
            cb.releasePermission();
        }
    }

    /** Whether an attempt's timeout is the caller's deadline's remainder rather than the guard's own. */
    boolean cutByDeadline(long attemptTimeoutNanos) {
        return attemptTimeoutNanos != timeoutNanos;
    }

    /**
     * Records an attempt that ran out of time. A timeout of the guard's own is the dependency's
     * failure; one shortened by the caller's deadline is not (a hurried caller must not open the
     * breaker on a healthy dependency): it only gives back the permission.
     */
    void recordTimeout(
            long durationNanos,
            GuardTimeoutException failure,
            boolean cutByDeadline,
            CircuitBreaker.@Nullable State admittedIn) {
        metrics.timedOut(); // only this guard's timeouts: a nested guard's reach here as failures
        if (cutByDeadline) {
            releaseBreakerPermission(admittedIn);
        } else {
            recordOutcome(durationNanos, failure);
        }
    }

    /** Counts a call (not a retry) for the retry budget, once its first attempt is admitted. */
    void onCall(long nowNanos) {
        RetryAllowance a = allowance;
        if (a != null) {
            a.onCall(nowNanos);
        }
    }

    // ---------------------------------------------------------------- synchronous driver

    /**
     * Runs {@code task} through every layer on the calling thread (or on the executor, waiting with
     * the attempt's timeout).
     */
    public <T> T call(Callable<T> task) throws Exception {
        return run(task, false);
    }

    /** As {@link #call}, without wrapping the supplier in a callable (the hot path allocates nothing). */
    public <T> T get(Supplier<T> task) throws Exception {
        return run(task, true);
    }

    @SuppressWarnings("unchecked")
    private static <T> T invoke(Object task, boolean supplier) throws Exception {
        return supplier ? ((Supplier<T>) task).get() : ((Callable<T>) task).call();
    }

    @SuppressWarnings("unchecked")
    private static <T> Callable<T> callable(Object task, boolean supplier) {
        return supplier ? ((Supplier<T>) task)::get : (Callable<T>) task;
    }

    private <T> T run(Object task, boolean supplier) throws Exception {
        RequestContext context = RequestContext.current();
        if (!plain || context.deadline().isPresent()) {
            return runAttempts(context, task, supplier, null);
        }
        // the plain path, small enough to be inlined: one attempt on this thread, nothing timed
        int inFlight = admit(context.criticality());
        T value;
        try {
            value = invoke(task, supplier);
        } catch (InterruptedException e) {
            gate.releaseUnused(); // as in runAttempts: the caller's thread is being stopped
            Thread.currentThread().interrupt();
            throw e;
        } catch (Throwable t) {
            gate.release(0, 0, inFlight, true); // no breaker or throttle to tell on this path
            return runAttempts(context, task, supplier, t);
        }
        gate.release(0, 0, inFlight, false);
        return value;
    }

    /**
     * Every layer, attempt after attempt.
     *
     * @param firstFailure the failure of a first attempt already made on the plain path, or null
     */
    private <T> T runAttempts(RequestContext context, Object task, boolean supplier, @Nullable Throwable firstFailure)
            throws Exception {
        Criticality criticality = context.criticality();
        Deadline deadline = context.deadline().orElse(null);
        // one clock read serves the budget's count and the first attempt's start
        long callStart = timed || allowance != null ? ticker.read() : 0;
        RetryState retry = null;
        Throwable pending = firstFailure;
        while (true) {
            if (pending != null) {
                retry = retryOrThrow(retry, pending, deadline);
                pending = null;
                continue;
            }
            Throwable failure;
            long timeout;
            int inFlight;
            try {
                timeout = attemptTimeout(deadline, criticality);
                inFlight = admit(criticality);
            } catch (GuardRejectedException rejected) {
                if (retry == null) {
                    throw rejected;
                }
                throw sneaky(retry.lastFailure);
            }
            if (retry == null) {
                // a call earns budget only once admitted: refused calls must not pay for retries
                onCall(callStart); // never on the plain path, which has no budget
            }
            CircuitBreaker.@Nullable State admittedIn = breakerState();
            long start = !timed ? 0 : retry == null ? callStart : ticker.read();
            if (timeout == 0) {
                try {
                    T value = invoke(task, supplier);
                    long rtt = timed ? ticker.read() - start : 0;
                    gate.release(start, rtt, inFlight, false);
                    recordOutcome(rtt, null);
                    return value;
                } catch (InterruptedException e) {
                    // the caller's thread is being stopped: not the dependency's failure, not retried
                    gate.releaseUnused();
                    releaseBreakerPermission(admittedIn);
                    Thread.currentThread().interrupt();
                    throw e;
                } catch (Throwable t) {
                    long rtt = timed ? ticker.read() - start : 0;
                    gate.release(start, rtt, inFlight, true);
                    recordOutcome(rtt, t);
                    failure = t;
                }
            } else {
                start = ticker.read();
                OffThreadAttempt<T> attempt = OffThreadAttempt.of(
                        this, context.wrap(GuardEngine.<T>callable(task, supplier)), start, inFlight);
                try {
                    executor.execute(attempt);
                } catch (Throwable refused) {
                    // the executor refused (shut down, saturated) or broke: the attempt never ran
                    attempt.cancel(false); // releases the slot
                    releaseBreakerPermission();
                    if (retry != null && !(refused instanceof Error)) {
                        throw sneaky(retry.lastFailure);
                    }
                    throw refused;
                }
                try {
                    T value = attempt.get(timeout, TimeUnit.NANOSECONDS);
                    recordOutcome(ticker.read() - start, null);
                    return value;
                } catch (ExecutionException e) {
                    failure = e.getCause() == null ? e : e.getCause();
                    recordOutcome(ticker.read() - start, failure);
                } catch (TimeoutException e) {
                    boolean cutByDeadline = cutByDeadline(timeout);
                    attempt.timedOut(cutByDeadline);
                    failure = new GuardTimeoutException(name, Duration.ofNanos(timeout));
                    recordTimeout(ticker.read() - start, (GuardTimeoutException) failure, cutByDeadline, admittedIn);
                } catch (InterruptedException e) {
                    // the caller stopped waiting: the work is interrupted (its slot is released when it
                    // ends), and the dependency is not blamed for it
                    attempt.cancel(true);
                    releaseBreakerPermission(admittedIn);
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
            retry = retryOrThrow(retry, failure, deadline);
        }
    }

    /** Waits before the next attempt, or throws {@code failure} if there is none. */
    private RetryState retryOrThrow(@Nullable RetryState state, Throwable failure, @Nullable Deadline deadline) {
        RetryState retry = state == null ? new RetryState(failure) : state;
        retry.lastFailure = failure;
        long delay = retryDelay(retry, failure, deadline);
        if (delay < 0) {
            throw sneaky(failure);
        }
        if (!pause(delay)) {
            throw sneaky(failure); // interrupted while waiting to retry; the flag stays set
        }
        return retry;
    }

    // ---------------------------------------------------------------- asynchronous driver

    /** Runs {@code task} through every layer; the returned future completes with the outcome. */
    public <T> CompletableFuture<T> callAsync(Supplier<? extends CompletionStage<T>> task) {
        RequestContext context = RequestContext.current();
        CompletableFuture<T> result = new CompletableFuture<>();
        new AsyncCall<>(this, task, context, result).attempt();
        return result;
    }

    void schedule(Runnable r, long delayNanos) {
        // the retry completes the caller's future itself; nothing to learn from this one
        ScheduledFuture<?> unused = scheduler.schedule(r, delayNanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Returns the executor fallbacks of asynchronous calls run on: the guard's, or, once it refuses
     * work (the guard closed), the completing thread, so that a fallback is never lost.
     */
    public Executor fallbackExecutor() {
        return fallbackExecutor;
    }

    /** Returns the name. */
    public String name() {
        return name;
    }

    /** Returns the current concurrency limit. */
    public int limit() {
        return gate.limit();
    }

    /** Returns the calls in flight. */
    public int inFlight() {
        return gate.inFlight();
    }

    @Override
    public void close() {
        metrics.close();
        CircuitBreaker cb = breaker;
        TaggedCircuitBreakerMetricsPublisher m = breakerMetrics;
        if (cb != null && m != null) {
            m.removeMetrics(cb);
        }
        if (ownsScheduler) {
            scheduler.shutdown(); // timeouts and retry delays already scheduled still fire
        }
        ExecutorService own = ownedExecutor;
        if (own != null) {
            own.shutdown(); // running calls finish; their slots are released as they do
        }
    }

    /** Waits {@code nanos} of real time; false if interrupted (flag left set). */
    private static boolean pause(long nanos) {
        long end = System.nanoTime() + nanos;
        for (long left = nanos; left > 0; left = end - System.nanoTime()) {
            LockSupport.parkNanos(left);
            if (Thread.currentThread().isInterrupted()) {
                return false;
            }
        }
        return true;
    }

    @SuppressWarnings("unchecked")
    static <E extends Throwable> RuntimeException sneaky(Throwable t) throws E {
        throw (E) t;
    }

    private static ThreadFactory daemon(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    /** Per-call retry bookkeeping, allocated at the first failure only. Not thread-safe. */
    static final class RetryState {
        int failedAttempts;
        long previousDelayNanos;
        Throwable lastFailure;

        RetryState(Throwable first) {
            this.lastFailure = first;
        }
    }
}
