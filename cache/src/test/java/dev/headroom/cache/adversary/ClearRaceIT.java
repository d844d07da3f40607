package dev.headroom.cache.adversary;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.cache.CacheLoader;
import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedis;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Found by the cache adversary (issue 12, fifth round): a read that started after an instance's
 * bus delivered another instance's {@code invalidateAll} (or a possible loss of messages) joined a
 * load registered before it, and returned the value from before the clear.
 */
@ExtendWith(HeadroomServices.class)
class ClearRaceIT {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final AtomicReference<String> database = new AtomicReference<>("v1");
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private TappedBus lastBus;

    @AfterEach
    void closeAll() throws Exception {
        pool.shutdownNow();
        for (AutoCloseable c : closeables) {
            c.close();
        }
    }

    private TieredCache<String, String> instance(TestRedis redis, String name, CacheLoader<String, String> loader) {
        RedisRemoteStore store = RedisRemoteStore.builder()
                .uri(redis.uri())
                .keyPrefix(redis.keyPrefix())
                .build();
        TappedBus bus = new TappedBus(RedisInvalidationBus.create(redis.uri(), redis.key("invalidations")));
        lastBus = bus;
        TieredCache<String, String> cache = TieredCache.<String, String>builder(name)
                .remote(store, Codec.utf8())
                .invalidationBus(bus)
                .keyDecoder(Function.identity())
                .l2Timeout(Duration.ofSeconds(10))
                .loader(loader)
                .build();
        closeables.add(cache);
        org.awaitility.Awaitility.await().atMost(TIMEOUT).until(bus.d::isSubscribed);
        return cache;
    }

    @Test
    void aReadStartedAfterTheClearMessageDoesNotJoinALoadFromBeforeIt(TestRedis redis) throws Exception {
        CountDownLatch loading = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TieredCache<String, String> a = instance(redis, "a", k -> {
            String read = database.get(); // v1, before the clear
            loading.countDown();
            release.await();
            return read;
        });
        TappedBus aBus = lastBus;
        TieredCache<String, String> b = instance(redis, "b", k -> database.get());
        CompletableFuture<CompletableFuture<String>> afterMessage = new CompletableFuture<>();
        aBus.afterDelivery = what -> {
            if (what.equals("flush") && !afterMessage.isDone()) {
                afterMessage.complete(a.getAsync("k")); // starts right after a's listener handled the clear
            }
        };
        Future<String> slow = pool.submit(() -> a.get("k"));
        assertThat(loading.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        database.set("v2");
        assertThat(b.invalidateAll()).isTrue();
        CompletableFuture<String> late = afterMessage.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        release.countDown();
        assertThat(slow.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v1"); // started before: excused
        assertThat(late.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .as("a read started after a was told of the clear")
                .isEqualTo("v2");
    }
}
