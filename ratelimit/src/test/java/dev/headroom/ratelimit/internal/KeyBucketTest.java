package dev.headroom.ratelimit.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.ratelimit.Bandwidth;
import dev.headroom.ratelimit.Decision;
import dev.headroom.ratelimit.RateLimitPolicy;
import io.github.bucket4j.BucketConfiguration;
import io.github.bucket4j.BucketListener;
import io.github.bucket4j.ConsumptionProbe;
import io.github.bucket4j.MathType;
import io.github.bucket4j.TimeMeter;
import io.github.bucket4j.local.ThreadUnsafeBucket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The local arithmetic against Bucket4j's buckets, the library whose semantics it keeps. */
class KeyBucketTest {

    private long nanos = 1_000_000_000L;

    private final TimeMeter clock = new TimeMeter() {
        @Override
        public long currentTimeNanos() {
            return nanos;
        }

        @Override
        public boolean isWallClockBased() {
            return false;
        }
    };

    @Test
    void decidesExactlyAsBucket4jOverRandomPoliciesPermitsAndTimes() {
        long seed = 20261205L;
        Random random = new Random(seed);
        int compared = 0;
        int refused = 0;
        for (int round = 0; round < 300; round++) {
            RateLimitPolicy policy = randomPolicy(random);
            KeyBucket ours = KeyBucket.full(new BucketPlan(policy, 0), nanos);
            ThreadUnsafeBucket theirs =
                    new ThreadUnsafeBucket(configuration(policy), MathType.INTEGER_64_BITS, clock, BucketListener.NOPE);
            long maxPermits = policy.maxPermits();
            for (int step = 0; step < 200; step++) {
                // whole microseconds: our clock's resolution, the Redis script's too
                nanos += 1_000L * (random.nextInt(4) == 0 ? random.nextInt(2_000_000) : random.nextInt(2_000));
                long permits = 1 + (long) random.nextInt((int) Math.min(maxPermits, 50));
                if (step % 3 == 2) {
                    assertThat(ours.take(permits, false, nanos))
                            .as("take, seed " + seed + " round " + round + " step " + step)
                            .isEqualTo(theirs.tryConsume(permits));
                    compared++;
                    continue;
                }
                Decision d = ours.decide(permits, false, nanos);
                ConsumptionProbe p = theirs.tryConsumeAndReturnRemaining(permits);
                String at = "seed " + seed + " round " + round + " step " + step + " policy " + policy;
                assertThat(d.allowed()).as(at).isEqualTo(p.isConsumed());
                assertThat(d.remaining()).as(at).isEqualTo(p.getRemainingTokens());
                long reset = d.resetAfter().toNanos();
                assertThat(reset)
                        .as("reset is Bucket4j's rounded up to the microsecond, " + at)
                        .isBetween(p.getNanosToWaitForReset(), p.getNanosToWaitForReset() + 999);
                if (!d.allowed()) {
                    refused++;
                    long retry = d.retryAfter().toNanos();
                    assertThat(retry)
                            .as("retry-after is Bucket4j's rounded up to the microsecond, " + at)
                            .isBetween(p.getNanosToWaitForRefill(), p.getNanosToWaitForRefill() + 999);
                }
                compared++;
            }
        }
        assertThat(compared).isEqualTo(60_000);
        assertThat(refused).as("the walk must exercise refusals too").isGreaterThan(3_000);
    }

    @Test
    void aShedableRequestMustLeaveEachBandwidthsReserve() {
        RateLimitPolicy policy = RateLimitPolicy.of(
                "r", Bandwidth.perPeriod(10, Duration.ofHours(1)), Bandwidth.perPeriod(100, Duration.ofDays(1)));
        KeyBucket b = KeyBucket.full(new BucketPlan(policy, 200_000), nanos);
        int shed = 0;
        while (b.decide(1, true, nanos).allowed()) {
            shed++;
        }
        assertThat(shed).as("20% of 10 left in the first bandwidth").isEqualTo(8);
        Decision refused = b.decide(9, true, nanos);
        assertThat(refused.retryAfter())
                .as("a shedable request above capacity minus reserve never fits")
                .isEqualTo(Duration.ofNanos(Long.MAX_VALUE));
        assertThat(b.decide(2, false, nanos).allowed()).isTrue();
        assertThat(b.decide(1, false, nanos).allowed()).isFalse();

        // the second bandwidth: 100 a day, 20 kept
        KeyBucket day = KeyBucket.full(
                new BucketPlan(
                        RateLimitPolicy.of(
                                "d",
                                Bandwidth.perPeriod(1_000, Duration.ofSeconds(1)),
                                Bandwidth.perPeriod(100, Duration.ofDays(1))),
                        200_000),
                nanos);
        assertThat(day.decide(80, true, nanos).allowed()).isTrue();
        assertThat(day.decide(1, true, nanos).allowed()).isFalse();
        assertThat(day.decide(20, false, nanos).allowed()).isTrue();
    }

    @Test
    void aClockReadingOlderThanTheLastRefillsNothingAndTakesNothingExtra() {
        KeyBucket b = KeyBucket.full(
                new BucketPlan(RateLimitPolicy.of("g", Bandwidth.perPeriod(5, Duration.ofSeconds(5))), 0), nanos);
        assertThat(b.decide(5, false, nanos).allowed()).isTrue();
        assertThat(b.decide(1, false, nanos - 3_000_000_000L).allowed()).isFalse();
        assertThat(b.decide(1, false, nanos + 999_999_000L).allowed()).isFalse();
        assertThat(b.decide(1, false, nanos + 1_000_000_000L).allowed()).isTrue();
    }

    @Test
    void decadesIdleRefillToCapacityWithoutOverflow() {
        Bandwidth big = Bandwidth.greedy(1_000_000, 2_000_000, Duration.ofHours(1));
        KeyBucket b = KeyBucket.full(new BucketPlan(RateLimitPolicy.of("big", big), 0), 0);
        assertThat(b.decide(1_000_000, false, 0).allowed()).isTrue();
        Decision d = b.decide(1, false, Long.MAX_VALUE - 1);
        assertThat(d.allowed()).isTrue();
        assertThat(d.remaining()).isEqualTo(999_999);
        KeyBucket w = KeyBucket.full(
                new BucketPlan(RateLimitPolicy.of("w", Bandwidth.window(1_000_000, Duration.ofHours(1))), 0),
                Long.MIN_VALUE + 1);
        assertThat(w.decide(1_000_000, false, Long.MIN_VALUE + 1).allowed()).isTrue();
        assertThat(w.decide(1_000_000, false, Long.MAX_VALUE).allowed()).isTrue();
    }

    private static RateLimitPolicy randomPolicy(Random random) {
        int n = 1 + random.nextInt(3);
        List<Bandwidth> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long capacity = 1 + random.nextInt(random.nextBoolean() ? 20 : 2_000);
            long refill = 1 + random.nextInt((int) capacity + 5);
            Duration period = Duration.ofMillis(1 + random.nextInt(random.nextBoolean() ? 50 : 20_000));
            list.add(random.nextInt(3) == 0 ? interval(capacity, refill, period) : greedy(capacity, refill, period));
        }
        return RateLimitPolicy.of("p", list.toArray(new Bandwidth[0]));
    }

    private static Bandwidth greedy(long capacity, long refill, Duration period) {
        return Bandwidth.greedy(capacity, refill, period);
    }

    private static Bandwidth interval(long capacity, long refill, Duration period) {
        return new Bandwidth(capacity, refill, period, false);
    }

    private static BucketConfiguration configuration(RateLimitPolicy policy) {
        var builder = BucketConfiguration.builder();
        for (Bandwidth b : policy.bandwidths()) {
            builder.addLimit(limit -> {
                var refill = limit.capacity(b.capacity());
                return b.greedy()
                        ? refill.refillGreedy(b.refillTokens(), b.refillPeriod())
                        : refill.refillIntervally(b.refillTokens(), b.refillPeriod());
            });
        }
        return builder.build();
    }
}
