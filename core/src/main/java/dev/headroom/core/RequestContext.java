package dev.headroom.core;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a request carries through every Headroom component without being passed as a parameter: a
 * {@link Deadline}, a {@link Criticality}, an optional shard key and an optional {@link
 * ConsistencyToken}.
 *
 * <p>A context is an immutable value; {@code with...} methods return modified copies. It becomes
 * the thread's {@linkplain #current() current} context for the extent of a {@link Scope}:
 *
 * <pre>{@code
 * try (RequestContext.Scope scope = RequestContext.current()
 *         .withTimeout(Duration.ofMillis(250))
 *         .withCriticality(Criticality.CRITICAL)
 *         .open()) {
 *     // cache, router, limiter and guards called here all see the deadline and criticality
 * }
 * }</pre>
 *
 * <p>Scopes nest; closing one restores exactly the context that was current when it was opened,
 * including when the block exits by an exception. The current context is per thread (virtual
 * threads included) and is <em>not</em> inherited by threads or tasks started inside a scope: hand
 * it over explicitly with {@link #wrap(Runnable)}, {@link #wrap(Callable)} or {@link
 * #propagating(Executor)}.
 *
 * <p><b>Pooled threads.</b> A scope that is never closed (a leak) would stay current on its thread
 * and become the context of every later task that thread runs. Three things keep that from
 * spreading: a task run through {@link #wrap(Runnable)} or a {@link #propagating(Executor)
 * propagating executor} discards whatever scopes it leaked when it returns and restores the state
 * it found; {@link #resetThread()} lets a framework integrator clear a thread at a unit-of-work
 * boundary (a servlet filter's {@code finally}, {@code ThreadPoolExecutor.afterExecute}, a message
 * listener loop); and a scope discarded either way is closed, so closing it late restores nothing
 * and never clobbers the context current at that time.
 *
 * <p>Thread-safety: {@code RequestContext} values are immutable and thread-safe. A {@link Scope}
 * belongs to the thread that opened it.
 */
public final class RequestContext {

    private static final Logger log = LoggerFactory.getLogger(RequestContext.class);
    private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();
    private static final RequestContext EMPTY = new RequestContext(null, Criticality.DEFAULT, null, null, null);

    private final @Nullable Deadline deadline;
    private final Criticality criticality;
    private final @Nullable Object shardKey;
    private final @Nullable ConsistencyToken consistencyToken;
    private final @Nullable Duration maxStaleness;

    private RequestContext(
            @Nullable Deadline deadline,
            Criticality criticality,
            @Nullable Object shardKey,
            @Nullable ConsistencyToken consistencyToken,
            @Nullable Duration maxStaleness) {
        this.deadline = deadline;
        this.criticality = criticality;
        this.shardKey = shardKey;
        this.consistencyToken = consistencyToken;
        this.maxStaleness = maxStaleness;
    }

    /**
     * Returns the context of the innermost open scope on this thread, or {@link #empty()} if none is
     * open. Never blocks; allocates nothing after its first call on a thread (which creates the
     * thread-local entry).
     *
     * @return the current context, never null
     */
    public static RequestContext current() {
        Scope scope = CURRENT.get();
        return scope == null ? EMPTY : scope.context;
    }

    /**
     * Returns the context with no deadline, {@link Criticality#DEFAULT}, no shard key and no
     * consistency token.
     *
     * @return the empty context
     */
    public static RequestContext empty() {
        return EMPTY;
    }

    /**
     * Returns an executor that runs each task in the context that was current on the thread that
     * submitted it.
     *
     * @param delegate the executor that runs the tasks
     * @return a propagating view of {@code delegate}
     * @throws NullPointerException if {@code delegate} is null
     */
    public static Executor propagating(Executor delegate) {
        Objects.requireNonNull(delegate, "delegate");
        return command -> delegate.execute(current().wrap(Objects.requireNonNull(command, "command")));
    }

    /**
     * Discards every scope open on the calling thread, so that it runs its next unit of work with the
     * {@linkplain #empty() empty} context, and returns the context that was current. The discarded
     * scopes count as closed: closing one later does nothing.
     *
     * <p>For framework integrators: call it where a pooled thread finishes (or starts) a request or a
     * task, as insurance against application code that opened a scope and never closed it. A
     * non-empty return value means a scope leaked; it is also logged as a warning.
     *
     * @return the context that was current, or {@link #empty()} if no scope was open
     */
    public static RequestContext resetThread() {
        Scope current = CURRENT.get();
        if (current == null) {
            return EMPTY;
        }
        CURRENT.set(null);
        for (Scope s = current; s != null; s = s.parent) {
            s.closed = true;
        }
        // Not the context itself: its shard key may be a user's id.
        log.warn(
                "RequestContext reset on thread '{}' discarded a scope that was never closed (criticality {})",
                Thread.currentThread().getName(),
                current.context.criticality);
        return current.context;
    }

    /** Returns the deadline, if one was set. */
    public Optional<Deadline> deadline() {
        return Optional.ofNullable(deadline);
    }

    /** Returns the criticality; {@link Criticality#DEFAULT} unless set. */
    public Criticality criticality() {
        return criticality;
    }

    /** Returns the shard key, if one was set. */
    public Optional<Object> shardKey() {
        return Optional.ofNullable(shardKey);
    }

    /** Returns the consistency token, if one was set. */
    public Optional<ConsistencyToken> consistencyToken() {
        return Optional.ofNullable(consistencyToken);
    }

    /**
     * Returns a copy whose deadline is the earlier of this context's deadline and {@code deadline}: a
     * nested scope can shorten the time a request has, never extend it.
     *
     * @param deadline the new deadline
     * @return the modified copy
     * @throws NullPointerException if {@code deadline} is null
     */
    public RequestContext withDeadline(Deadline deadline) {
        Objects.requireNonNull(deadline, "deadline");
        Deadline effective = this.deadline == null ? deadline : this.deadline.min(deadline);
        return new RequestContext(effective, criticality, shardKey, consistencyToken, maxStaleness);
    }

    /**
     * Shorthand for {@code withDeadline(Deadline.after(timeout))} on the system ticker.
     *
     * @param timeout time from now
     * @return the modified copy
     * @throws NullPointerException if {@code timeout} is null
     */
    public RequestContext withTimeout(Duration timeout) {
        return withDeadline(Deadline.after(Objects.requireNonNull(timeout, "timeout")));
    }

    /**
     * Returns a copy with the given criticality.
     *
     * @param criticality the new criticality
     * @return the modified copy
     * @throws NullPointerException if {@code criticality} is null
     */
    public RequestContext withCriticality(Criticality criticality) {
        Objects.requireNonNull(criticality, "criticality");
        return new RequestContext(deadline, criticality, shardKey, consistencyToken, maxStaleness);
    }

    /**
     * Returns a copy with the given shard key (a tenant or user id, typically a {@code Long}, {@code
     * String} or {@code UUID}).
     *
     * @param shardKey the key a shard resolver maps to a shard
     * @return the modified copy
     * @throws NullPointerException if {@code shardKey} is null
     */
    public RequestContext withShardKey(Object shardKey) {
        Objects.requireNonNull(shardKey, "shardKey");
        return new RequestContext(deadline, criticality, shardKey, consistencyToken, maxStaleness);
    }

    /**
     * Returns a copy with the given consistency token: reads in this context must observe the
     * position it names.
     *
     * @param consistencyToken the token
     * @return the modified copy
     * @throws NullPointerException if {@code consistencyToken} is null
     */
    public RequestContext withConsistencyToken(ConsistencyToken consistencyToken) {
        Objects.requireNonNull(consistencyToken, "consistencyToken");
        return new RequestContext(deadline, criticality, shardKey, consistencyToken, maxStaleness);
    }

    /**
     * Returns a copy that lets reads in this context use data up to {@code maxStaleness} old: a
     * read-scaling router may then serve them from a replica within this budget, tighter or looser
     * than its own bound.
     *
     * @param maxStaleness the oldest data the reads accept; zero means "as fresh as the primary"
     * @return the modified copy
     * @throws NullPointerException if {@code maxStaleness} is null
     * @throws IllegalArgumentException if it is negative
     */
    public RequestContext withMaxStaleness(Duration maxStaleness) {
        Objects.requireNonNull(maxStaleness, "maxStaleness");
        if (maxStaleness.isNegative()) {
            throw new IllegalArgumentException("maxStaleness must be >= 0, got " + maxStaleness);
        }
        return new RequestContext(deadline, criticality, shardKey, consistencyToken, maxStaleness);
    }

    /** Returns the staleness budget of reads in this context, if one was set. */
    public Optional<Duration> maxStaleness() {
        return Optional.ofNullable(maxStaleness);
    }

    /**
     * Makes this context current on the calling thread until the returned scope is closed. Use with
     * try-with-resources.
     *
     * @return the scope, to be closed on this same thread
     */
    public Scope open() {
        return open(false);
    }

    private Scope open(boolean task) {
        Scope scope = new Scope(this, CURRENT.get(), Thread.currentThread(), task);
        CURRENT.set(scope);
        return scope;
    }

    /**
     * Returns a task that runs {@code task} with this context current, whichever thread runs it.
     * Afterwards the thread is back in the state the task found: scopes the task opened and never
     * closed are discarded (and closed), and if the task {@linkplain #resetThread() reset} the thread
     * it stays reset.
     *
     * @param task the task
     * @return the wrapping task
     * @throws NullPointerException if {@code task} is null
     */
    public Runnable wrap(Runnable task) {
        Objects.requireNonNull(task, "task");
        return () -> {
            Scope scope = open(true);
            try {
                task.run();
            } finally {
                scope.restoreAfterTask();
            }
        };
    }

    /**
     * Returns a task that calls {@code task} with this context current, whichever thread runs it, and
     * leaves the thread as {@link #wrap(Runnable)} does.
     *
     * @param task the task
     * @param <T> the task's result type
     * @return the wrapping task
     * @throws NullPointerException if {@code task} is null
     */
    public <T> Callable<T> wrap(Callable<T> task) {
        Objects.requireNonNull(task, "task");
        return () -> {
            Scope scope = open(true);
            try {
                return task.call();
            } finally {
                scope.restoreAfterTask();
            }
        };
    }

    @Override
    public String toString() {
        return "RequestContext[deadline=" + deadline + ", criticality=" + criticality + ", shardKey=" + shardKey
                + ", consistencyToken=" + consistencyToken + ", maxStaleness=" + maxStaleness + "]";
    }

    /**
     * The extent during which a {@link RequestContext} is current on one thread. Closing it restores
     * the context that was current when it was opened. Closing twice is harmless; closing on another
     * thread throws {@link IllegalStateException} and changes nothing.
     *
     * <p>If scopes are closed out of order (a scope opened inside this one was leaked), closing this
     * one still restores its parent, discarding (and closing) the leaked scope, and logs a warning: a
     * pooled thread must never keep a stale context. Closing a scope that is no longer on its thread's
     * stack (it was discarded by {@link RequestContext#resetThread()}, or by a wrapped task that
     * leaked it) changes nothing. Inside a task run by {@link RequestContext#wrap(Runnable)}, closing
     * a scope the task did not open (one it found on the thread) marks that scope closed but leaves
     * the task's context current; the thread gets the nearest still-open scope back when the task
     * returns.
     *
     * <p>Not thread-safe: a scope is used only by the thread that opened it.
     */
    public static final class Scope implements AutoCloseable {
        private final RequestContext context;
        private final @Nullable Scope parent;
        private final Thread owner;
        /**
         * A wrapped task's scope: code inside the task cannot close its way below it, so a task that
         * closes a scope it found (or a late close of a scope leaked earlier on the thread) never
         * unseats the context the task runs in.
         */
        private final boolean task;

        private boolean closed;

        private Scope(RequestContext context, @Nullable Scope parent, Thread owner, boolean task) {
            this.context = context;
            this.parent = parent;
            this.owner = owner;
            this.task = task;
        }

        /** Returns the context this scope made current. */
        public RequestContext context() {
            return context;
        }

        /**
         * Restores the context that was current when this scope was opened.
         *
         * @throws IllegalStateException if called on a thread other than the one that opened the scope
         */
        @Override
        public void close() {
            if (Thread.currentThread() != owner) {
                throw new IllegalStateException(
                        "RequestContext scope opened on thread '" + owner.getName() + "' cannot be closed on thread '"
                                + Thread.currentThread().getName() + "'");
            }
            if (closed) {
                return;
            }
            Scope current = CURRENT.get();
            if (current != this) {
                if (!discardDescendants(current)) {
                    closed = true; // not on this thread's stack any more: nothing to restore
                    return;
                }
                log.warn(
                        "RequestContext scope closed out of order on thread '{}': a scope opened inside it was"
                                + " never closed; restoring this scope's parent",
                        owner.getName());
            }
            closed = true;
            // set(null) rather than remove(): keeping the thread's map entry makes the next open()
            // allocation-free apart from the scope itself, and skips remove()'s expunge pass. A null
            // entry holds no context, so nothing leaks into the next task on a pooled thread.
            CURRENT.set(openAncestor());
        }

        /**
         * Closes the scopes above this one on the stack that starts at {@code top}; returns false (and
         * closes nothing) if this scope is not on that stack, or lies below a running task's scope.
         */
        private boolean discardDescendants(@Nullable Scope top) {
            Scope s = top;
            while (s != null && s != this) {
                if (s.task && !s.closed) {
                    return false;
                }
                s = s.parent;
            }
            if (s == null) {
                return false;
            }
            for (Scope t = top; t != null && t != this; t = t.parent) {
                t.closed = true;
            }
            return true;
        }

        /** The nearest ancestor still open (one may have been closed first, out of order). */
        private @Nullable Scope openAncestor() {
            Scope restore = parent;
            while (restore != null && restore.closed) {
                restore = restore.parent;
            }
            return restore;
        }

        /** What a wrapped task does when it returns: see {@link RequestContext#wrap(Runnable)}. */
        private void restoreAfterTask() {
            // Discard what the task left open above its own scope; if the task reset the thread,
            // that is everything it opened since, and the ancestors are closed too, so it stays reset.
            boolean leaked = false;
            for (Scope s = CURRENT.get(); s != null && s != this && !s.closed; s = s.parent) {
                s.closed = true;
                leaked = true;
            }
            if (leaked && !closed) {
                log.warn("RequestContext: a task on thread '{}' left a scope open; discarding it", owner.getName());
            }
            closed = true;
            CURRENT.set(openAncestor());
        }
    }
}
