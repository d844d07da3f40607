package dev.headroom.cache.internal;

import dev.headroom.cache.AsyncCacheLoader;
import dev.headroom.cache.BulkCacheLoader;
import dev.headroom.cache.CacheLoadException;
import dev.headroom.cache.CacheLoader;
import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.Ticker;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Calling loaders and waiting for loads, for one cache: every loader runs on the cache's executor
 * (never on the Redis I/O thread that completed an L2 call), its time and outcome are counted, its
 * failure reaches callers as {@link CacheLoadException}, and a caller waits at most {@code
 * loadTimeout} (less if its {@link RequestContext} deadline is nearer).
 *
 * @param <K> the key type
 * @param <V> the value type
 */
public final class Loads<K, V> {

    private final String name;
    private final Executor executor;
    private final Ticker ticker;
    private final CacheMetrics metrics;
    private final long loadTimeoutNanos;

    public Loads(String name, Executor executor, Ticker ticker, CacheMetrics metrics, long loadTimeoutNanos) {
        this.name = name;
        this.executor = executor;
        this.ticker = ticker;
        this.metrics = metrics;
        this.loadTimeoutNanos = loadTimeoutNanos;
    }

    /** A loader's result and how long it took. */
    public static final class Loaded<V> {
        public final @Nullable V value;
        public final long nanos;

        public Loaded(@Nullable V value, long nanos) {
            this.value = value;
            this.nanos = nanos;
        }
    }

    /** Calls the loader on the executor; the future fails with {@link CacheLoadException}. */
    public CompletableFuture<Loaded<V>> call(K key, AsyncCacheLoader<K, V> loader) {
        long start = ticker.read();
        CompletableFuture<@Nullable V> stage;
        if (loader instanceof Loads<?, ?>.OnExecutor) {
            stage = startLoad(key, loader); // it hops to the executor itself
        } else {
            // Called from an L2 reply, this would run the caller's loader on the Redis I/O thread,
            // where anything blocking stalls every other L2 call of the process.
            try {
                stage = CompletableFuture.supplyAsync(() -> startLoad(key, loader), executor)
                        .thenCompose(Function.identity());
            } catch (RuntimeException e) { // the executor refused (shut down)
                stage = CompletableFuture.<@Nullable V>failedFuture(e);
            }
        }
        return stage.handle((value, error) -> {
            long nanos = ticker.read() - start;
            metrics.recordLoad(nanos);
            if (error != null) {
                metrics.loadFailures.increment();
                throw loadException(error);
            }
            (value == null ? metrics.loadNulls : metrics.loadSuccesses).increment();
            return new Loaded<>(value, nanos);
        });
    }

    private CompletableFuture<@Nullable V> startLoad(K key, AsyncCacheLoader<K, V> loader) {
        try {
            CompletionStage<@Nullable V> loading = loader.load(key);
            if (loading == null) { // a loader outside null-checked code can still return one
                throw new NullPointerException("loader returned a null stage");
            }
            return loading.toCompletableFuture();
        } catch (RuntimeException e) {
            return CompletableFuture.<@Nullable V>failedFuture(e);
        }
    }

    /** Calls a bulk loader once for {@code keys} on the executor; counts only the keys asked for. */
    public CompletableFuture<Map<K, V>> callBulk(BulkCacheLoader<K, V> bulk, Set<K> keys) {
        long start = ticker.read();
        return runOnExecutor(() -> {
                    Map<K, V> values = bulk.loadAll(Collections.unmodifiableSet(new LinkedHashSet<>(keys)));
                    return values == null ? Map.<K, V>of() : values;
                })
                .handle((values, error) -> {
                    metrics.recordLoad(ticker.read() - start);
                    if (error != null) {
                        metrics.loadFailures.increment();
                        throw new CacheLoadException(name, unwrap(error));
                    }
                    // Only the keys asked for count: a bulk loader may return extra keys (ignored) or
                    // null values, and the counts must never go negative.
                    int found = 0;
                    for (K key : keys) {
                        if (values.get(key) != null) {
                            found++;
                        }
                    }
                    metrics.loadSuccesses.add(found);
                    metrics.loadNulls.add(keys.size() - found);
                    return values;
                });
    }

    /** A synchronous loader as an asynchronous one that runs on the executor. */
    public AsyncCacheLoader<K, V> adapt(CacheLoader<? super K, ? extends V> loader) {
        return new OnExecutor(loader);
    }

    /** A synchronous loader, run on the loader executor. */
    private final class OnExecutor implements AsyncCacheLoader<K, V> {
        private final CacheLoader<? super K, ? extends V> loader;

        OnExecutor(CacheLoader<? super K, ? extends V> loader) {
            this.loader = loader;
        }

        @Override
        public CompletionStage<@Nullable V> load(K key) {
            return Loads.this.<@Nullable V>runOnExecutor(() -> loader.load(key));
        }
    }

    /** Runs a blocking, throwing task on the loader executor; a checked failure fails the future. */
    public <T extends @Nullable Object> CompletableFuture<T> runOnExecutor(Callable<T> task) {
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return task.call();
                    } catch (RuntimeException e) {
                        throw e;
                    } catch (Exception e) {
                        throw new CompletionException(e);
                    }
                },
                executor);
    }

    /**
     * Waits for a load, at most {@code loadTimeout}. The wait itself is untimed, on a copy that
     * {@link Timeouts} fails at the deadline: a timed park arms a kernel timer on every call, which
     * cost ~3 µs of CPU per L2 hit on the benchmark VM (benchmarks/RESULTS.md).
     */
    public <T extends @Nullable Object> T await(CompletableFuture<T> future) {
        long timeout = loadTimeoutNanos;
        boolean byDeadline = false;
        if (!future.isDone()) {
            // A request with less time left than loadTimeout waits only that long (the load itself
            // goes on for the others waiting on it).
            Deadline deadline = RequestContext.current().deadline().orElse(null);
            if (deadline != null) {
                long remaining = deadline.remainingNanos();
                if (remaining < timeout) {
                    timeout = Math.max(1, remaining);
                    byDeadline = true;
                }
            }
        }
        CompletableFuture<T> bounded =
                future.isDone() ? future : Timeouts.shared().within(future, timeout);
        try {
            return bounded.get();
        } catch (ExecutionException | CompletionException e) {
            if (byDeadline && unwrap(e) instanceof TimeoutException && !future.isDone()) {
                throw new CacheLoadException(
                        name,
                        new TimeoutException(
                                "the request's deadline (RequestContext) passed while waiting for a load"));
            }
            throw loadException(e);
        } catch (CancellationException e) {
            throw new CacheLoadException(name, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CacheLoadException(name, e);
        }
    }

    /** Waits at most {@code loadTimeout} for an L2 call; null for any failure (counted by the guard). */
    public <T> @Nullable T awaitQuietly(CompletableFuture<T> future) {
        try {
            return future.get(loadTimeoutNanos, TimeUnit.NANOSECONDS);
        } catch (ExecutionException | TimeoutException | CancellationException e) {
            return null; // counted by the guard; L2 is best effort by contract
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The caller-facing form of a load failure: the {@link CacheLoadException} inside, or one around it. */
    public CacheLoadException loadException(Throwable error) {
        Throwable cause = unwrap(error);
        return cause instanceof CacheLoadException cle ? cle : new CacheLoadException(name, cause);
    }

    public static Throwable unwrap(Throwable t) {
        Throwable cause = t;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    /** The cache's own loader pool, when none is given: daemon threads named after the cache. */
    public static ExecutorService newLoaderPool(String name) {
        AtomicInteger n = new AtomicInteger();
        return Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "headroom-cache-" + name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }
}
