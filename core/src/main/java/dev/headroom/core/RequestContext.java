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
 * <p>Thread-safety: {@code RequestContext} values are immutable and thread-safe. A {@link Scope}
 * belongs to the thread that opened it.
 */
public final class RequestContext {

    private static final Logger log = LoggerFactory.getLogger(RequestContext.class);
    private static final ThreadLocal<Scope> CURRENT = new ThreadLocal<>();
    private static final RequestContext EMPTY = new RequestContext(null, Criticality.DEFAULT, null, null);

    private final @Nullable Deadline deadline;
    private final Criticality criticality;
    private final @Nullable Object shardKey;
    private final @Nullable ConsistencyToken consistencyToken;

    private RequestContext(
            @Nullable Deadline deadline,
            Criticality criticality,
            @Nullable Object shardKey,
            @Nullable ConsistencyToken consistencyToken) {
        this.deadline = deadline;
        this.criticality = criticality;
        this.shardKey = shardKey;
        this.consistencyToken = consistencyToken;
    }

    /**
     * Returns the context of the innermost open scope on this thread, or {@link #empty()} if none is
     * open. Never blocks, never allocates.
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
        return new RequestContext(effective, criticality, shardKey, consistencyToken);
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
        return new RequestContext(deadline, criticality, shardKey, consistencyToken);
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
        return new RequestContext(deadline, criticality, shardKey, consistencyToken);
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
        return new RequestContext(deadline, criticality, shardKey, consistencyToken);
    }

    /**
     * Makes this context current on the calling thread until the returned scope is closed. Use with
     * try-with-resources.
     *
     * @return the scope, to be closed on this same thread
     */
    public Scope open() {
        Scope scope = new Scope(this, CURRENT.get(), Thread.currentThread());
        CURRENT.set(scope);
        return scope;
    }

    /**
     * Returns a task that runs {@code task} with this context current, whichever thread runs it, and
     * restores that thread's own context afterwards.
     *
     * @param task the task
     * @return the wrapping task
     * @throws NullPointerException if {@code task} is null
     */
    public Runnable wrap(Runnable task) {
        Objects.requireNonNull(task, "task");
        return () -> {
            try (Scope ignored = open()) {
                task.run();
            }
        };
    }

    /**
     * Returns a task that calls {@code task} with this context current, whichever thread runs it, and
     * restores that thread's own context afterwards.
     *
     * @param task the task
     * @param <T> the task's result type
     * @return the wrapping task
     * @throws NullPointerException if {@code task} is null
     */
    public <T> Callable<T> wrap(Callable<T> task) {
        Objects.requireNonNull(task, "task");
        return () -> {
            try (Scope ignored = open()) {
                return task.call();
            }
        };
    }

    @Override
    public String toString() {
        return "RequestContext[deadline=" + deadline + ", criticality=" + criticality + ", shardKey=" + shardKey
                + ", consistencyToken=" + consistencyToken + "]";
    }

    /**
     * The extent during which a {@link RequestContext} is current on one thread. Closing it restores
     * the context that was current when it was opened. Closing twice is harmless; closing on another
     * thread throws {@link IllegalStateException} and changes nothing.
     *
     * <p>If scopes are closed out of order (a scope opened inside this one was leaked), closing this
     * one still restores its parent, discarding the leaked scope, and logs a warning: a pooled thread
     * must never keep a stale context.
     *
     * <p>Not thread-safe: a scope is used only by the thread that opened it.
     */
    public static final class Scope implements AutoCloseable {
        private final RequestContext context;
        private final @Nullable Scope parent;
        private final Thread owner;
        private boolean closed;

        private Scope(RequestContext context, @Nullable Scope parent, Thread owner) {
            this.context = context;
            this.parent = parent;
            this.owner = owner;
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
            closed = true;
            if (CURRENT.get() != this) {
                log.warn(
                        "RequestContext scope closed out of order on thread '{}': a scope opened inside it was"
                                + " never closed; restoring this scope's parent",
                        owner.getName());
            }
            Scope restore = parent;
            while (restore != null && restore.closed) { // its parent was closed first, out of order
                restore = restore.parent;
            }
            // set(null) rather than remove(): keeping the thread's map entry makes the next open()
            // allocation-free apart from the scope itself, and skips remove()'s expunge pass. A null
            // entry holds no context, so nothing leaks into the next task on a pooled thread.
            CURRENT.set(restore);
        }
    }
}
