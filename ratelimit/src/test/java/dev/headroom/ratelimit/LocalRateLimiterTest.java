package dev.headroom.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LocalRateLimiterTest {

    private final FakeTicker ticker = new FakeTicker();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private LocalRateLimiter limiter(RateLimitPolicy policy) {
        return LocalRateLimiter.builder()
                .policy(policy)
                .ticker(ticker)
                .meterRegistry(registry)
                .name("api")
                .build();
    }

    @Test
    void aBurstIsAllowedThenRefusedWithTheTimeUntilATokenComesBack() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("default", Bandwidth.perPeriod(10, Duration.ofSeconds(10))));
        for (int i = 9; i >= 0; i--) {
            Decision d = l.tryAcquire("k");
            assertThat(d.allowed()).isTrue();
            assertThat(d.remaining()).isEqualTo(i);
        }
        Decision refused = l.tryAcquire("k");
        assertThat(refused.allowed()).isFalse();
        assertThat(refused.retryAfter()).isEqualTo(Duration.ofSeconds(1));
        assertThat(refused.resetAfter()).isEqualTo(Duration.ofSeconds(10));
        assertThat(l.tryAcquire("other").allowed())
                .as("another key has its own bucket")
                .isTrue();

        ticker.advance(Duration.ofMillis(999));
        assertThat(l.tryAcquire("k").allowed()).isFalse();
        ticker.advance(Duration.ofMillis(1));
        assertThat(l.tryAcquire("k").allowed()).isTrue();
        assertThat(registry.get("headroom.ratelimit.decisions")
                        .tags("limiter", "api", "result", "allowed", "source", "store")
                        .counter()
                        .count())
                .isEqualTo(12);
        assertThat(registry.get("headroom.ratelimit.decisions")
                        .tags("limiter", "api", "result", "rejected", "source", "store")
                        .counter()
                        .count())
                .isEqualTo(2);
    }

    @Test
    void everyBandwidthMustHaveThePermitsAndNoneIsChargedOnARefusal() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of(
                "tiered", Bandwidth.perPeriod(5, Duration.ofSeconds(1)), Bandwidth.perPeriod(8, Duration.ofHours(1))));
        int allowed = 0;
        for (int second = 0; second < 4; second++) {
            for (int i = 0; i < 10; i++) {
                if (l.tryAcquire("k").allowed()) {
                    allowed++;
                }
            }
            ticker.advance(Duration.ofSeconds(1));
        }
        assertThat(allowed)
                .as("5 in the first second, then the hourly 8 caps it")
                .isEqualTo(8);
        assertThat(l.tryAcquire("k", 3).allowed()).isFalse();
    }

    @Test
    void aWindowRestoresItsWholeQuotaOnlyWhenThePeriodHasPassed() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("win", Bandwidth.window(3, Duration.ofMinutes(1))));
        assertThat(l.tryAcquire("k", 3).allowed()).isTrue();
        ticker.advance(Duration.ofSeconds(59));
        assertThat(l.tryAcquire("k").allowed()).isFalse();
        ticker.advance(Duration.ofSeconds(1));
        assertThat(l.tryAcquire("k", 3).allowed()).isTrue();
    }

    @Test
    void manyThreadsOnOneKeyGetExactlyTheCapacityWhileTimeStandsStill() throws Exception {
        int capacity = 1_000;
        LocalRateLimiter l = limiter(RateLimitPolicy.of("hot", Bandwidth.perPeriod(capacity, Duration.ofHours(1))));
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        for (int round = 0; round < 20; round++) {
            String key = "k" + round;
            AtomicLong allowed = new AtomicLong();
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                fs.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < 500; i++) {
                        if (l.tryAcquire(key).allowed()) {
                            allowed.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : fs) {
                f.get();
            }
            assertThat(allowed.get()).as("round %d", round).isEqualTo(capacity);
        }
        pool.shutdown();
    }

    @Test
    void aMillionDistinctKeysStayWithinTheKeyBound() {
        LocalRateLimiter l = LocalRateLimiter.builder()
                .policy(RateLimitPolicy.of("flood", Bandwidth.perPeriod(10, Duration.ofMinutes(1))))
                .maxKeys(10_000)
                .ticker(ticker)
                .meterRegistry(registry)
                .build();
        for (int i = 0; i < 1_000_000; i++) {
            l.tryAcquire("key-" + i);
        }
        assertThat(l.keys()).isLessThanOrEqualTo(10_000);
        assertThat(registry.get("headroom.ratelimit.keys.evicted").gauge().value())
                .isGreaterThanOrEqualTo(990_000);
    }

    @Test
    void aKeyIdleForItsFillTimeIsForgottenAndDecidesAsIfItHadBeenKept() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("idle", Bandwidth.perPeriod(10, Duration.ofSeconds(10))));
        assertThat(l.tryAcquire("k", 10).allowed()).isTrue();
        ticker.advance(Duration.ofSeconds(9));
        assertThat(l.keys()).as("not yet full: kept").isEqualTo(1);
        assertThat(l.tryAcquire("k", 10).allowed()).isFalse();
        ticker.advance(Duration.ofSeconds(10));
        assertThat(l.keys())
                .as("full again, but kept 2 s beyond: Caffeine's expiry tolerance")
                .isEqualTo(1);
        ticker.advance(Duration.ofSeconds(2));
        assertThat(l.keys()).as("full again: nothing to remember").isZero();
        assertThat(l.tryAcquire("k", 10).allowed()).isTrue();
    }

    /**
     * Adversary round 2: Caffeine moves an expiry on a read only when it changes by more than its
     * tolerance (1 s), so a key read 0.99 s after its last refresh kept the older expiry and was
     * forgotten 0.99 s before its fill time: 1,000 admitted where a kept bucket admits 901.
     */
    @Test
    void aKeyReadWithinCaffeinesExpiryToleranceIsNotForgottenBeforeItsFillTime() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("g", Bandwidth.greedy(1_000, 100, Duration.ofSeconds(1))));
        assertThat(l.tryAcquire("k").allowed()).isTrue();
        ticker.advance(Duration.ofMillis(990));
        assertThat(l.tryAcquire("k", 1_000).allowed()).isTrue();
        ticker.advance(Duration.ofMillis(9_010));
        assertThat(l.tryAcquire("k", 902).allowed())
                .as("9.01 s after the drain: 901 tokens back, not a forgotten, full bucket")
                .isFalse();
        assertThat(l.tryAcquire("k", 901).allowed()).isTrue();
    }

    /**
     * Adversary round 2: a key kept the bucket of its old policy while it stayed busy, so a
     * downgraded key kept its paid quota for ever; and a request sized for the new policy overflowed
     * the old bucket's arithmetic (29,248 permits times a 10-year period) and was allowed.
     */
    @Test
    void aKeyWhosePolicyChangesDecidesByTheNewPolicyAtOnce() {
        RateLimitPolicy paid = RateLimitPolicy.of("paid", Bandwidth.perPeriod(100, Duration.ofSeconds(1)));
        RateLimitPolicy anon = RateLimitPolicy.of("anon", Bandwidth.perPeriod(20, Duration.ofMinutes(1)));
        java.util.concurrent.atomic.AtomicReference<RateLimitPolicy> current =
                new java.util.concurrent.atomic.AtomicReference<>(paid);
        LocalRateLimiter l = LocalRateLimiter.builder()
                .policies(k -> current.get())
                .ticker(ticker)
                .build();
        assertThat(l.tryAcquire("k", 50).allowed()).isTrue();
        current.set(anon);
        int admitted = 0;
        for (int i = 0; i < 100; i++) {
            if (l.tryConsume("k", 1)) {
                admitted++;
            }
        }
        assertThat(admitted)
                .as("the new policy's 20, not the old one's 50 left")
                .isEqualTo(20);
        assertThat(l.tryAcquire("k").policy()).isEqualTo(anon);

        RateLimitPolicy yearly = RateLimitPolicy.of("yearly", Bandwidth.perPeriod(28, Duration.ofDays(3650)));
        RateLimitPolicy big = RateLimitPolicy.of("big", Bandwidth.perPeriod(1_000_000, Duration.ofSeconds(1)));
        current.set(yearly);
        assertThat(l.tryAcquire("y", 28).allowed()).isTrue();
        current.set(big);
        assertThat(l.tryAcquire("y", 29_248).allowed()).isTrue();
        current.set(yearly);
        assertThat(l.tryAcquire("y", 28).allowed())
                .as("a fresh bucket of the policy now resolved")
                .isTrue();
        assertThat(l.tryAcquire("y", 1).allowed()).isFalse();
    }

    @Test
    void aResolverGivesEachKeyItsTier() {
        RateLimitPolicy anonymous = RateLimitPolicy.of("anon", Bandwidth.perPeriod(2, Duration.ofMinutes(1)));
        RateLimitPolicy paid = RateLimitPolicy.of("paid", Bandwidth.perPeriod(100, Duration.ofMinutes(1)));
        LocalRateLimiter l = LocalRateLimiter.builder()
                .policies(k -> k.startsWith("paid:") ? paid : anonymous)
                .ticker(ticker)
                .build();
        assertThat(l.tryAcquire("anon:1", 2).allowed()).isTrue();
        assertThat(l.tryAcquire("anon:1").allowed()).isFalse();
        assertThat(l.tryAcquire("paid:1", 50).allowed()).isTrue();
        assertThat(l.tryAcquire("paid:1").policy()).isSameAs(paid);
    }

    @Test
    void acquireWaitsForATokenWithinItsLimitAndNoLonger() throws Exception {
        LocalRateLimiter l = LocalRateLimiter.builder()
                .policy(RateLimitPolicy.of("w", Bandwidth.perPeriod(1, Duration.ofMillis(20))))
                .build();
        assertThat(l.tryAcquire("k").allowed()).isTrue();
        assertThat(l.acquire("k", 1, Duration.ZERO).allowed()).isFalse();
        assertThat(l.acquire("k", 1, Duration.ofSeconds(30)).allowed()).isTrue();
    }

    @Test
    void tryConsumeDecidesOnTheSameBucketAndCountsTheSameMetrics() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("default", Bandwidth.perPeriod(3, Duration.ofSeconds(3))));
        assertThat(l.tryConsume("k", 2)).isTrue();
        assertThat(l.tryAcquire("k").remaining()).isZero();
        assertThat(l.tryConsume("k", 1)).isFalse();
        ticker.advance(Duration.ofSeconds(1));
        assertThat(l.tryConsume("k", 1)).isTrue();
        assertThat(registry.get("headroom.ratelimit.decisions")
                        .tags("limiter", "api", "result", "allowed", "source", "store")
                        .counter()
                        .count())
                .isEqualTo(3);
        assertThat(registry.get("headroom.ratelimit.decisions")
                        .tags("limiter", "api", "result", "rejected", "source", "store")
                        .counter()
                        .count())
                .isEqualTo(1);
        assertThatThrownBy(() -> l.tryConsume("k", 4)).hasMessageContaining("could never be granted");
        assertThatThrownBy(() -> l.tryConsume("", 1)).hasMessageContaining("key must not be empty");
    }

    @Test
    void shedableRequestsLeaveTheReserveToTheOthers() {
        LocalRateLimiter l = LocalRateLimiter.builder()
                .policy(RateLimitPolicy.of("r", Bandwidth.perPeriod(10, Duration.ofHours(1))))
                .reserveForCritical(0.2)
                .ticker(ticker)
                .build();
        int shed = 0;
        try (RequestContext.Scope s =
                RequestContext.current().withCriticality(Criticality.SHEDDABLE).open()) {
            for (int i = 0; i < 10; i++) {
                Decision d = l.tryAcquire("k");
                if (d.allowed()) {
                    shed++;
                    assertThat(d.remaining()).isEqualTo(10 - shed);
                }
            }
        }
        assertThat(shed).as("shedable requests stop 2 tokens short").isEqualTo(8);
        assertThat(l.tryAcquire("k").allowed())
                .as("a default request takes the reserve")
                .isTrue();
        try (RequestContext.Scope s =
                RequestContext.current().withCriticality(Criticality.CRITICAL).open()) {
            assertThat(l.tryAcquire("k").allowed()).isTrue();
            assertThat(l.tryAcquire("k").allowed()).isFalse();
        }
        assertThatThrownBy(() -> LocalRateLimiter.builder().reserveForCritical(1.0))
                .hasMessageContaining("reserveForCritical");
        // adversary round 2: doubles made 100 x 0.07 reserve 8 (Redis: 7), and 0.9999999 all of it
        assertThat(dev.headroom.ratelimit.internal.Reserve.tokens(
                        100, dev.headroom.ratelimit.internal.Reserve.millionths(0.07)))
                .isEqualTo(7);
        assertThat(dev.headroom.ratelimit.internal.Reserve.tokens(
                        10_000_000, dev.headroom.ratelimit.internal.Reserve.millionths(0.9999999)))
                .as("a fraction below 1 never reserves a large bucket whole")
                .isLessThan(10_000_000);
    }

    /** The fill time was rounded down: a bucket forgotten a fraction early came back full. */
    @Test
    void theFillTimeIsRoundedUpSoForgettingNeverComesEarly() {
        assertThat(RateLimitPolicy.of("f", Bandwidth.greedy(7, 3, Duration.ofMillis(1)))
                        .fillTime())
                .isEqualTo(Duration.ofNanos(2_334_000));
        LocalRateLimiter l = limiter(RateLimitPolicy.of("f", Bandwidth.greedy(7, 3, Duration.ofMillis(1))));
        assertThat(l.tryAcquire("k", 7).allowed()).isTrue();
        ticker.advance(Duration.ofNanos(2_333_000));
        assertThat(l.tryAcquire("k", 7).allowed()).as("6.999 tokens back").isFalse();
    }

    @Test
    void badInputIsRefusedNamingTheProblem() {
        LocalRateLimiter l = limiter(RateLimitPolicy.of("p", Bandwidth.perPeriod(10, Duration.ofSeconds(1))));
        assertThatThrownBy(() -> l.tryAcquire(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("key");
        assertThatThrownBy(() -> l.tryAcquire("")).hasMessageContaining("key must not be empty");
        assertThatThrownBy(() -> l.tryAcquire("x".repeat(513))).hasMessageContaining("at most 512");
        assertThatThrownBy(() -> l.tryAcquire("k", 0)).hasMessageContaining("permits must be >= 1");
        assertThatThrownBy(() -> l.tryAcquire("k", 11)).hasMessageContaining("could never be granted");
        assertThat(l.tryAcquireAsync("", 1)).isCompletedExceptionally();
        assertThatThrownBy(() -> Bandwidth.perPeriod(0, Duration.ofSeconds(1))).hasMessageContaining("capacity");
        assertThatThrownBy(() -> Bandwidth.perPeriod(1, Duration.ZERO)).hasMessageContaining("refillPeriod");
        assertThatThrownBy(() -> Bandwidth.perPeriod(10_000_000_000L, Duration.ofHours(1)))
                .hasMessageContaining("2^53");
        assertThatThrownBy(() -> RateLimitPolicy.of("has space", Bandwidth.perPeriod(1, Duration.ofSeconds(1))))
                .hasMessageContaining("policy name");
        assertThatThrownBy(() -> RateLimitPolicy.of("p")).hasMessageContaining("1 to 8 bandwidths");
        assertThatThrownBy(() -> LocalRateLimiter.builder().build()).hasMessageContaining("no policy");
        assertThatThrownBy(() ->
                        LocalRateLimiter.builder().policies(k -> null).build().tryAcquire("k"))
                .hasMessageContaining("returned null");
    }
}
