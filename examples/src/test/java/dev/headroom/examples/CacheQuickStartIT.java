package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.cache.TieredCache;
import dev.headroom.cache.redis.RedisInvalidationBus;
import dev.headroom.cache.redis.RedisRemoteStore;
import dev.headroom.core.Codec;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedis;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's cache quick start, compiled and run against real Redis. Keep the two in step. */
@ExtendWith(HeadroomServices.class)
class CacheQuickStartIT {

    record Product(long id, String name) {}

    static Product loadProductFromDatabase(String id) {
        return new Product(Long.parseLong(id), "widget " + id);
    }

    @Test
    void readmeCacheQuickStartWorks(TestRedis redis) {
        String redisUri = redis.uri();
        MeterRegistry meterRegistry = new SimpleMeterRegistry();

        // README: begin
        RedisRemoteStore l2 = RedisRemoteStore.builder()
                .uri(redisUri) // e.g. "redis://127.0.0.1:6379"
                .keyPrefix(redis.keyPrefix() + "products:")
                .build();
        try (TieredCache<String, Product> products = TieredCache.<String, Product>builder("products")
                .maximumSize(50_000)
                .ttl(Duration.ofMinutes(5))
                .staleWhileRevalidate(Duration.ofMinutes(1))
                .negativeTtl(Duration.ofSeconds(30))
                .remote(l2, dev.headroom.core.JsonCodec.of(Product.class))
                .invalidationBus(RedisInvalidationBus.create(redisUri, redis.keyPrefix() + "products:invalidations"))
                .keyDecoder(Function.identity())
                .loader(CacheQuickStartIT::loadProductFromDatabase)
                .meterRegistry(meterRegistry)
                .build()) {
            Product p = products.get("42"); // L1, then Redis, then the loader: one load per key at a time
            products.invalidate("42"); // after a write: gone here, in Redis and in every instance's L1
            // README: end
            assertThat(p).isEqualTo(new Product(42, "widget 42"));
            assertThat(products.get("42")).isEqualTo(p);
            assertThat(meterRegistry.find("headroom.cache.gets").meters()).isNotEmpty();
        }
        assertThat(meterRegistry.find("headroom.cache.gets").meters())
                .as("removed on close")
                .isEmpty();
        assertThat(Codec.utf8().name()).isEqualTo("utf8");
    }
}
