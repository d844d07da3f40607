package dev.headroom.cache.adversary;

import dev.headroom.cache.InvalidationBus;
import dev.headroom.cache.redis.RedisInvalidationBus;
import java.util.function.Consumer;

/** Lets a test act right after the cache's listener handled a message. */
final class TappedBus implements InvalidationBus {
    final RedisInvalidationBus d;
    volatile Consumer<String> afterDelivery = s -> {};

    TappedBus(RedisInvalidationBus d) {
        this.d = d;
    }

    @Override
    public void publish(String key, long version) {
        d.publish(key, version);
    }

    @Override
    public void publishFlush() {
        d.publishFlush();
    }

    @Override
    public void publishRepaired(String key, long version) {
        d.publishRepaired(key, version);
    }

    @Override
    public void publishClearNotTaken() {
        d.publishClearNotTaken();
    }

    @Override
    public boolean isDelivering() {
        return d.isDelivering();
    }

    @Override
    public void close() {
        d.close();
    }

    @Override
    public void subscribe(Listener l) {
        d.subscribe(new Listener() {
            @Override
            public void invalidated(String key, long version) {
                l.invalidated(key, version);
                afterDelivery.accept("inv " + version + " " + key);
            }

            @Override
            public void repaired(String key, long version) {
                l.repaired(key, version);
                afterDelivery.accept("rep " + key);
            }

            @Override
            public void messagesMayHaveBeenLost() {
                l.messagesMayHaveBeenLost();
                afterDelivery.accept("lost");
            }

            @Override
            public void flushRequested() {
                l.flushRequested();
                afterDelivery.accept("flush");
            }

            @Override
            public void clearNotTakenByL2() {
                l.clearNotTakenByL2();
                afterDelivery.accept("clearNotTaken");
            }
        });
    }
}
