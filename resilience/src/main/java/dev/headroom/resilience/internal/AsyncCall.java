package dev.headroom.resilience.internal;

import dev.headroom.core.Criticality;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.resilience.GuardRejectedException;
import dev.headroom.resilience.GuardTimeoutException;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One asynchronous call: its attempts, each admitted and recorded by the {@link GuardEngine}'s shared
 * policy methods, with timeouts and retry delays on the engine's scheduler. Each attempt's outcome is
 * taken exactly once, by whichever comes first of the dependency's reply and the timeout; on timeout
 * the dependency's future is cancelled if it is a {@link Future}, and its slot is released (an
 * asynchronous call holds no thread of ours, so nothing else would ever release it). Not API.
 */
final class AsyncCall<T> implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(AsyncCall.class);
    private final GuardEngine engine;
    private final Supplier<? extends CompletionStage<T>> task;
    private final RequestContext context;
    private final Criticality criticality;
    private final @Nullable Deadline deadline;
    private final CompletableFuture<T> result;
    private GuardEngine.@Nullable RetryState retry;

    AsyncCall(
            GuardEngine engine,
            Supplier<? extends CompletionStage<T>> task,
            RequestContext context,
            CompletableFuture<T> result) {
        this.engine = engine;
        this.task = task;
        this.context = context;
        this.criticality = context.criticality();
        this.deadline = context.deadline().orElse(null);
        this.result = result;
    }

    /** A retry, after its delay. */
    @Override
    public void run() {
        attempt();
    }

    void attempt() {
        if (result.isDone()) {
            return; // the caller cancelled (or completed) the call: no further attempt
        }
        long timeout;
        int inFlight;
        try {
            timeout = engine.attemptTimeout(deadline, criticality);
            inFlight = engine.admit(criticality);
        } catch (GuardRejectedException rejected) {
            GuardEngine.RetryState r = retry;
            result.completeExceptionally(r == null ? rejected : r.lastFailure);
            return;
        }
        CircuitBreaker.@Nullable State admittedIn = engine.breakerState();
        long start = engine.ticker.read();
        if (retry == null) {
            engine.onCall(start); // a call earns retry budget once admitted
        }
        Outcome outcome = new Outcome(start, inFlight, timeout, admittedIn);
        if (timeout > 0) {
            try {
                outcome.timer = engine.scheduler.schedule(outcome::timeOut, timeout, TimeUnit.NANOSECONDS);
            } catch (Throwable refused) {
                // the scheduler was shut down (the guard closed) or broke: no attempt may run
                // unbounded, so this one is not made, and the caller hears the previous attempt's
                // failure, or the scheduler's if there was none
                engine.releaseUnused();
                GuardEngine.RetryState r = retry;
                result.completeExceptionally(r == null ? refused : r.lastFailure);
                return;
            }
        }
        CompletionStage<T> stage;
        try (RequestContext.Scope scope = context.open()) {
            stage = task.get();
            if (stage == null) {
                stage = CompletableFuture.failedFuture(
                        new NullPointerException("guard '" + engine.name + "': the task returned a null stage"));
            }
        } catch (Throwable t) {
            stage = CompletableFuture.failedFuture(t);
        }
        outcome.started(stage);
        stage.whenComplete(outcome::complete);
    }

    private void failed(Throwable failure) {
        GuardEngine.RetryState r = retry;
        if (r == null) {
            r = new GuardEngine.RetryState(failure);
            retry = r;
        }
        r.lastFailure = failure;
        if (result.isDone()) {
            return; // the caller cancelled the call: no retry, no budget spent
        }
        long delay;
        // retryOn sees the caller's context, as on the synchronous path
        try (RequestContext.Scope scope = context.open()) {
            delay = engine.retryDelay(r, failure, deadline);
        } catch (Throwable predicateFailed) {
            result.completeExceptionally(predicateFailed); // a throwing retryOn must not leave it pending
            return;
        }
        if (delay < 0) {
            result.completeExceptionally(failure);
            return;
        }
        try {
            engine.schedule(this, delay);
        } catch (RejectedExecutionException closed) {
            result.completeExceptionally(failure); // the guard closed: no retry, the caller still hears
        } catch (Throwable broken) {
            log.warn("guard '{}': its scheduler refused a retry, the call ends with its failure", engine.name, broken);
            result.completeExceptionally(failure);
        }
    }

    private static Throwable unwrap(Throwable t) {
        Throwable cause = t.getCause();
        if ((t instanceof CompletionException || t instanceof ExecutionException) && cause != null) {
            return cause;
        }
        return t;
    }

    /** The single outcome of one attempt. */
    private final class Outcome {
        private final long start;
        private final int inFlight;
        private final long timeout;
        private final CircuitBreaker.@Nullable State admittedIn;
        private final AtomicBoolean taken = new AtomicBoolean();
        volatile @Nullable ScheduledFuture<?> timer;
        private volatile @Nullable CompletionStage<T> stage;

        Outcome(long start, int inFlight, long timeout, CircuitBreaker.@Nullable State admittedIn) {
            this.start = start;
            this.inFlight = inFlight;
            this.timeout = timeout;
            this.admittedIn = admittedIn;
        }

        /** The dependency's stage, once the task returned it; cancelled at once if already timed out. */
        void started(CompletionStage<T> started) {
            stage = started;
            if (taken.get()) {
                cancel(started);
            }
        }

        void complete(@Nullable T value, @Nullable Throwable error) {
            if (!taken.compareAndSet(false, true)) {
                return;
            }
            ScheduledFuture<?> t = timer;
            if (t != null) {
                t.cancel(false);
            }
            long rtt = engine.ticker.read() - start;
            Throwable failure = error == null ? null : unwrap(error);
            engine.gate.release(start, rtt, inFlight, failure != null);
            engine.recordOutcome(rtt, failure);
            if (failure == null) {
                result.complete(value);
            } else {
                failed(failure);
            }
        }

        void timeOut() {
            if (!taken.compareAndSet(false, true)) {
                return;
            }
            CompletionStage<T> s = stage;
            if (s != null) {
                cancel(s);
            }
            long rtt = engine.ticker.read() - start;
            GuardTimeoutException failure = new GuardTimeoutException(engine.name, Duration.ofNanos(timeout));
            boolean cutByDeadline = engine.cutByDeadline(timeout);
            if (cutByDeadline) {
                engine.gate.releaseUnused(); // the caller's deadline, not the dependency, cut it short
            } else {
                engine.gate.release(start, rtt, inFlight, true);
            }
            engine.recordTimeout(rtt, failure, cutByDeadline, admittedIn);
            failed(failure);
        }

        private void cancel(CompletionStage<T> s) {
            if (s instanceof Future<?> f) {
                f.cancel(true);
            }
        }
    }
}
