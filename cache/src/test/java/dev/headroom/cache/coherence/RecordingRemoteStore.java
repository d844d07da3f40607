package dev.headroom.cache.coherence;

import dev.headroom.cache.ForwardingRemoteStore;
import dev.headroom.cache.RemoteStore;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;

/**
 * Passes every call to the real store and, for the write the calling thread announced with {@link
 * #expect}, records when the store's {@code invalidate}, {@code put} or {@code clear} started and
 * whether (and when, with which version) it completed normally. The cache calls its store on the
 * calling thread (its guard wraps the returned stage), so a thread-local ties the call to the write.
 * Calls made by the cache on its own threads (repairs, refreshes) are not recorded.
 */
final class RecordingRemoteStore extends ForwardingRemoteStore {

    /** What the store did for one write of the checker. */
    static final class Probe {
        final String key; // encoded; null-free: "*" for a clear
        volatile long started = -1;
        volatile long done = -1;
        volatile long version = -1;
        volatile boolean failed;

        Probe(String key) {
            this.key = key;
        }
    }

    private final RemoteStore delegate;
    private final History history;
    private final ThreadLocal<@Nullable Probe> current = new ThreadLocal<>();

    RecordingRemoteStore(RemoteStore delegate, History history) {
        super(delegate);
        this.delegate = delegate;
        this.history = history;
    }

    /** Announces the write the calling thread is about to make; {@link #done} ends it. */
    Probe expect(String key) {
        Probe p = new Probe(key);
        current.set(p);
        return p;
    }

    void done() {
        current.remove();
    }

    private @Nullable Probe take(String key) {
        Probe p = current.get();
        if (p == null || !p.key.equals(key) || p.started >= 0) {
            return null; // not the announced write, or its second store call (a put's fallback)
        }
        p.started = history.now();
        return p;
    }

    private static <T> CompletionStage<T> watch(@Nullable Probe p, History h, CompletionStage<T> stage) {
        if (p == null) {
            return stage;
        }
        // The cache gets the stage that completes after the probe is filled in: a callback on the
        // store's own stage could run after the cache's, and the write would look unanswered.
        return stage.whenComplete((value, error) -> {
            if (error != null) {
                p.failed = true;
            } else {
                if (value instanceof Long v) {
                    p.version = v;
                }
                p.done = h.now();
            }
        });
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        Probe p = take(key);
        return watch(p, history, delegate.put(key, value, ttl));
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        Probe p = take(key);
        return watch(p, history, delegate.invalidate(key));
    }

    @Override
    public CompletionStage<Void> clear() {
        Probe p = take("*");
        return watch(p, history, delegate.clear());
    }
}
