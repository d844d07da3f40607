package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.testing.FakeTicker;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class DeadlineTest {

    private final FakeTicker ticker = new FakeTicker();

    @Test
    void remainingTimeFallsAsTheTickerAdvances() {
        Deadline d = Deadline.after(Duration.ofMillis(100), ticker);
        assertThat(d.remaining()).isEqualTo(Duration.ofMillis(100));
        ticker.advance(Duration.ofMillis(60));
        assertThat(d.remaining()).isEqualTo(Duration.ofMillis(40));
        assertThat(d.isExpired()).isFalse();
        ticker.advance(Duration.ofMillis(40));
        assertThat(d.isExpired()).isTrue();
        ticker.advance(Duration.ofMillis(1));
        assertThat(d.remaining()).isEqualTo(Duration.ZERO);
        assertThat(d.remainingNanos()).isEqualTo(-Duration.ofMillis(1).toNanos());
    }

    @Test
    void hugeTimeoutsSaturateInsteadOfOverflowingIntoThePast() {
        FakeTicker nearTheEdge = new FakeTicker(Long.MAX_VALUE - 10);
        Deadline d = Deadline.after(Duration.ofSeconds(Long.MAX_VALUE), nearTheEdge);
        assertThat(d.isExpired()).isFalse();
        nearTheEdge.advance(1_000);
        assertThat(d.isExpired()).isFalse();
        assertThat(d.remainingNanos()).isGreaterThan(Long.MAX_VALUE / 2);

        FakeTicker negativeOrigin = new FakeTicker(Long.MIN_VALUE + 5);
        assertThat(Deadline.after(Duration.ofDays(365 * 200), negativeOrigin).isExpired())
                .isFalse();
    }

    @Test
    void negativeTimeoutsAreAlreadyExpired() {
        assertThat(Deadline.after(Duration.ofSeconds(-5), ticker).isExpired()).isTrue();
        assertThat(Deadline.after(Duration.ofSeconds(Long.MIN_VALUE), ticker).isExpired())
                .isTrue();
    }

    @Test
    void minPicksTheDeadlineThatLeavesLessTime() {
        Deadline longer = Deadline.after(Duration.ofSeconds(10), ticker);
        ticker.advance(Duration.ofSeconds(1));
        Deadline shorter = Deadline.after(Duration.ofSeconds(5), ticker);
        assertThat(longer.min(shorter)).isSameAs(shorter);
        assertThat(shorter.min(longer)).isSameAs(shorter);
        assertThat(shorter).isLessThan(longer);
    }
}
