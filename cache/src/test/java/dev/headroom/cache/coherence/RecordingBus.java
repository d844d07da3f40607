package dev.headroom.cache.coherence;

import dev.headroom.cache.InvalidationBus;
import dev.headroom.cache.redis.RedisInvalidationBus;
import java.util.function.LongSupplier;

/**
 * Passes everything to a {@link RedisInvalidationBus} and records, for its instance, when the
 * cache's listener returned from each invalidation and each "messages may have been lost" call.
 */
final class RecordingBus implements InvalidationBus {

    private final RedisInvalidationBus delegate;
    private final int instance;
    private final History history;
    private final LongSupplier flushes;

    private final boolean deaf;

    RecordingBus(RedisInvalidationBus delegate, int instance, History history, LongSupplier flushes, boolean deaf) {
        this.delegate = delegate;
        this.deaf = deaf;
        this.instance = instance;
        this.history = history;
        this.flushes = flushes;
    }

    boolean isSubscribed() {
        return delegate.isSubscribed();
    }

    @Override
    public boolean isDelivering() {
        return delegate.isDelivering();
    }

    @Override
    public void publish(String key, long version) {
        delegate.publish(key, version);
    }

    @Override
    public void publishFlush() {
        delegate.publishFlush();
    }

    @Override
    public void subscribe(Listener listener) {
        delegate.subscribe(new Listener() {
            @Override
            public void invalidated(String key, long version) {
                long start = history.now();
                if (!deaf) {
                    listener.invalidated(key, version);
                }
                history.add(new History.Delivery(instance, key, version, start, history.now(), -1));
            }

            @Override
            public void messagesMayHaveBeenLost() {
                long start = history.now();
                long before = flushes.getAsLong();
                listener.messagesMayHaveBeenLost();
                history.add(new History.Delivery(instance, null, -1, start, history.now(), before));
            }
        });
    }

    @Override
    public void close() {
        delegate.close();
    }
}
