package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Backoff.Jitter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class BackoffTest {

    private static final Duration BASE = Duration.ofMillis(10);
    private static final Duration CAP = Duration.ofSeconds(2);

    private static Backoff backoff(Jitter jitter, long seed) {
        return Backoff.builder()
                .base(BASE)
                .cap(CAP)
                .jitter(jitter)
                .maxAttempts(Integer.MAX_VALUE)
                .random(new Random(seed))
                .build();
    }

    @Test
    void withoutJitterDelaysDoubleUntilTheCap() {
        Backoff b = backoff(Jitter.NONE, 1);
        assertThat(b.delay(1, Duration.ZERO)).isEqualTo(Duration.ofMillis(10));
        assertThat(b.delay(2, Duration.ZERO)).isEqualTo(Duration.ofMillis(20));
        assertThat(b.delay(3, Duration.ZERO)).isEqualTo(Duration.ofMillis(40));
        assertThat(b.delay(8, Duration.ZERO)).isEqualTo(Duration.ofMillis(1280));
        assertThat(b.delay(9, Duration.ZERO)).isEqualTo(CAP);
        assertThat(b.delay(50, Duration.ZERO)).isEqualTo(CAP);
    }

    @Test
    void fullJitterStaysWithinZeroAndTheExponentialCeiling() {
        Backoff b = backoff(Jitter.FULL, 7);
        for (int attempt = 1; attempt <= 20; attempt++) {
            long ceiling = Math.min(CAP.toNanos(), BASE.toNanos() << (attempt - 1));
            long max = 0;
            for (int i = 0; i < 2_000; i++) {
                long d = b.delayNanos(attempt, 0);
                assertThat(d).isBetween(0L, ceiling);
                max = Math.max(max, d);
            }
            // The whole range is used, not a fixed fraction of it.
            assertThat(max).isGreaterThan(ceiling * 9 / 10);
        }
    }

    @Test
    void fullJitterGrowsOnAverageWithTheAttempt() {
        Backoff b = backoff(Jitter.FULL, 3);
        double previousMean = 0;
        for (int attempt = 1; attempt <= 6; attempt++) {
            double sum = 0;
            for (int i = 0; i < 5_000; i++) {
                sum += b.delayNanos(attempt, 0);
            }
            double mean = sum / 5_000;
            assertThat(mean).isGreaterThan(previousMean * 1.6);
            previousMean = mean;
        }
    }

    @Test
    void decorrelatedJitterStaysBetweenBaseAndThreeTimesThePreviousDelay() {
        Backoff b = backoff(Jitter.DECORRELATED, 11);
        Backoff.Sequence seq = b.start();
        long previous = BASE.toNanos();
        for (int i = 0; i < 10_000; i++) {
            long d = seq.next().toNanos();
            assertThat(d).isBetween(BASE.toNanos(), Math.min(CAP.toNanos(), previous * 3));
            previous = d;
        }
    }

    @ParameterizedTest
    @EnumSource(Jitter.class)
    void neverOverflowsOrExceedsTheCapAtHugeAttemptNumbers(Jitter jitter) {
        Backoff b = Backoff.builder()
                .base(Duration.ofSeconds(1))
                .cap(Duration.ofSeconds(Long.MAX_VALUE))
                .jitter(jitter)
                .build();
        long previous = 0;
        for (int attempt : new int[] {1, 62, 63, 64, 1_000, Integer.MAX_VALUE}) {
            long d = b.delayNanos(attempt, previous);
            assertThat(d).isNotNegative().isLessThanOrEqualTo(Long.MAX_VALUE);
            previous = d;
        }
        Backoff capped = backoff(jitter, 5);
        for (int attempt = 1; attempt <= 1_000; attempt++) {
            previous = capped.delayNanos(attempt, previous);
            assertThat(previous).isBetween(0L, CAP.toNanos());
        }
        if (jitter == Jitter.NONE) {
            assertThat(capped.delayNanos(1_000, 0)).isEqualTo(CAP.toNanos());
        }
    }

    @Test
    void aSeededRandomGivesTheSameDelaysEveryRun() {
        List<Duration> first = delays(backoff(Jitter.FULL, 42), 30);
        List<Duration> second = delays(backoff(Jitter.FULL, 42), 30);
        List<Duration> otherSeed = delays(backoff(Jitter.FULL, 43), 30);
        assertThat(first).isEqualTo(second).isNotEqualTo(otherSeed);
    }

    @Test
    void aSequenceHandsOutOneDelayFewerThanMaxAttempts() {
        Backoff b = Backoff.builder().maxAttempts(3).build();
        Backoff.Sequence seq = b.start();
        assertThat(seq.hasNext()).isTrue();
        seq.next();
        assertThat(seq.hasNext()).isTrue();
        seq.next();
        assertThat(seq.hasNext()).isFalse();
        assertThat(seq.retries()).isEqualTo(2);
        assertThatThrownBy(seq::next).isInstanceOf(NoSuchElementException.class).hasMessageContaining("maxAttempts=3");
        assertThat(b.allowsRetryAfter(2)).isTrue();
        assertThat(b.allowsRetryAfter(3)).isFalse();
    }

    @Test
    void defaultsAreDocumented() {
        Backoff b = Backoff.builder().build();
        assertThat(b.base()).isEqualTo(Backoff.DEFAULT_BASE);
        assertThat(b.cap()).isEqualTo(Backoff.DEFAULT_CAP);
        assertThat(b.maxAttempts()).isEqualTo(Backoff.DEFAULT_MAX_ATTEMPTS);
        assertThat(b.jitter()).isEqualTo(Jitter.FULL);
    }

    @Test
    void misconfigurationIsRejectedNamingTheField() {
        assertThatThrownBy(() -> Backoff.builder().base(Duration.ZERO))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("base");
        assertThatThrownBy(() -> Backoff.builder().cap(Duration.ofMillis(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cap");
        assertThatThrownBy(() -> Backoff.builder().maxAttempts(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxAttempts");
        assertThatThrownBy(() -> Backoff.builder()
                        .base(Duration.ofSeconds(5))
                        .cap(Duration.ofSeconds(1))
                        .build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cap")
                .hasMessageContaining("base");
        assertThatThrownBy(() -> Backoff.builder().jitter(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("jitter");
        assertThatThrownBy(() -> Backoff.builder().build().delayNanos(0, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("failedAttempt");
    }

    private static List<Duration> delays(Backoff b, int n) {
        List<Duration> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(b.delay(i, Duration.ZERO));
        }
        return out;
    }

    @Test
    void ceilingIsTheUnjitteredExponentialStepCappedAndRefusesAttemptZero() {
        Backoff b = Backoff.builder()
                .base(Duration.ofMillis(100))
                .cap(Duration.ofSeconds(1))
                .build();
        assertThat(b.ceiling(1)).isEqualTo(Duration.ofMillis(100));
        assertThat(b.ceiling(4)).isEqualTo(Duration.ofMillis(800));
        assertThat(b.ceiling(5)).isEqualTo(Duration.ofSeconds(1));
        assertThat(b.ceiling(Integer.MAX_VALUE)).isEqualTo(Duration.ofSeconds(1));
        assertThatThrownBy(() -> b.ceiling(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("failedAttempt");
    }
}
