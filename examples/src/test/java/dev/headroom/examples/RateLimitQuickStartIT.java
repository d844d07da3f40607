package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.LocalRateLimiter;
import dev.headroom.ratelimit.RateLimitHeaders;
import dev.headroom.ratelimit.RateLimitPolicy;
import dev.headroom.ratelimit.RateLimiter;
import dev.headroom.ratelimit.redis.RedisRateLimiter;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestRedis;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's rate-limit quick start, compiled and run against the real Redis. Keep the two in step. */
@ExtendWith(HeadroomServices.class)
class RateLimitQuickStartIT {

    @Test
    void readmeRateLimitQuickStartWorks(TestRedis redis) {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        RedisClient client = RedisClient.create(redis.uri());
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            Map<String, String> response = new HashMap<>();
            int status = 200;
            String apiKey = "key-123";

            // README: begin
            RateLimitPolicy anonymous = RateLimitPolicy.of("anon", Bandwidth.perPeriod(20, Duration.ofMinutes(1)));
            RateLimitPolicy paid = RateLimitPolicy.of(
                    "paid",
                    Bandwidth.greedy(100, 100, Duration.ofSeconds(1)), // a burst of 100, 100/s
                    Bandwidth.perPeriod(100_000, Duration.ofHours(1))); // and 100,000 an hour
            RateLimiter limiter = RedisRateLimiter.builder()
                    .commands(connection.async()) // one shared connection; one EVALSHA per decision
                    .keyPrefix(redis.keyPrefix()) // default "headroom:rl:"
                    .policies(key -> key.startsWith("anon:") ? anonymous : paid)
                    .failureMode(RedisRateLimiter.FailureMode.FAIL_OPEN) // Redis down: local limits
                    .fallbackShare(1.0 / 4) // 4 instances share the limit while Redis is down
                    .meterRegistry(registry)
                    .build();

            Decision d = limiter.tryAcquire(apiKey);
            response.putAll(RateLimitHeaders.standard().render(d)); // RateLimit-Policy, RateLimit, Retry-After
            if (!d.allowed()) {
                status = 429;
            }

            // in one JVM only (tests, a single instance): the same API, no Redis
            RateLimiter local = LocalRateLimiter.builder()
                    .policy(anonymous)
                    .maxKeys(100_000)
                    .build();
            // README: end

            assertThat(status).isEqualTo(200);
            assertThat(response)
                    .containsEntry("RateLimit-Policy", "\"paid\";q=100;w=1, \"paid-2\";q=100000;w=3600")
                    .containsEntry("RateLimit", "\"paid\";r=99;t=1");
            assertThat(limiter.tryAcquire("anon:1.2.3.4", 20).allowed()).isTrue();
            Decision refused = limiter.tryAcquire("anon:1.2.3.4");
            assertThat(refused.allowed()).isFalse();
            assertThat(RateLimitHeaders.standard().render(refused)).containsEntry("Retry-After", "3");
            assertThat(local.tryAcquire("x").allowed()).isTrue();
        } finally {
            client.shutdown();
        }
    }
}
