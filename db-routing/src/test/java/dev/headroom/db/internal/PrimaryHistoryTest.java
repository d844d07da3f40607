package dev.headroom.db.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Lag in time from the primary's sampled positions, on a fake clock (nanoseconds as plain numbers). */
class PrimaryHistoryTest {

    private static final long S = 1_000_000_000L;

    @Test
    void aCaughtUpReplicaOnAQuietPrimaryHasNoLagHoweverLongNothingIsWritten() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofSeconds(10), 64);
        for (long t = 0; t <= 600; t++) {
            h.record(1_000, t * S, t * S + 1);
        }
        assertThat(h.size()).as("an idle primary adds no samples").isEqualTo(1);
        PrimaryHistory.Lag lag = h.lag(1_000, 600 * S + 5);
        assertThat(lag.known()).isTrue();
        assertThat(lag.nanos()).isEqualTo(5);
    }

    @Test
    void aReplicaCutOffFromAWritingPrimaryAgesFromTheLastSampleItHadReached() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofSeconds(10), 64);
        h.record(1_000, 0, 1);
        for (long t = 1; t <= 8; t++) {
            h.record(1_000 + t * 100, t * S, t * S + 1); // the primary writes every second
        }
        // the replica stopped at 1_300 (it had the primary's position of t = 3 s)
        PrimaryHistory.Lag lag = h.lag(1_350, 8 * S + 10);
        assertThat(lag.known()).isTrue();
        assertThat(lag.nanos()).isEqualTo(5 * S + 10);
    }

    @Test
    void aReplicaBehindEveryKeptSampleIsKnownToBeAtLeastTheSpanBehind() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofSeconds(5), 1024);
        for (long t = 0; t <= 100; t++) {
            h.record(10_000 + t, t * S, t * S);
        }
        PrimaryHistory.Lag lag = h.lag(5, 100 * S);
        assertThat(lag.known()).isFalse();
        assertThat(lag.nanos()).as("a lower bound of at least the span").isGreaterThanOrEqualTo(5 * S);
        assertThat(h.size())
                .as("trimmed to the span (plus the sample that bounds it)")
                .isLessThanOrEqualTo(7);
    }

    @Test
    void aSampleCountsFromWhenItWasAskedForFreshnessAndFromItsAnswerForStaleness() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofSeconds(5), 16);
        h.record(100, 10, 20); // asked at 10, answered at 20
        assertThat(h.lag(100, 30)).isEqualTo(new PrimaryHistory.Lag(20, true));
        assertThat(h.lag(99, 30)).isEqualTo(new PrimaryHistory.Lag(10, false));
    }

    @Test
    void aLowerPositionThanBeforeStartsTheHistoryAgain() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofSeconds(5), 16);
        h.record(1_000, 0, 0);
        h.record(2_000, S, S);
        h.record(50, 2 * S, 2 * S); // a new primary
        assertThat(h.latest()).isEqualTo(50);
        assertThat(h.size()).isEqualTo(1);
    }

    @Test
    void theCapacityBoundsMemoryAndKeepsTheNewestSamples() {
        PrimaryHistory h = new PrimaryHistory(Duration.ofHours(1), 8);
        for (long t = 0; t < 100; t++) {
            h.record(t, t, t);
        }
        assertThat(h.size()).isEqualTo(8);
        assertThat(h.lag(92, 100)).isEqualTo(new PrimaryHistory.Lag(8, true));
        assertThat(h.lag(91, 100)).as("older than the oldest kept sample").isEqualTo(new PrimaryHistory.Lag(8, false));
    }
}
