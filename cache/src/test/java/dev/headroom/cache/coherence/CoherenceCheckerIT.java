package dev.headroom.cache.coherence;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The seeded coherence checker in {@code verify}: fixed seeds, a few seconds each, against a Redis of
 * its own. {@code -Dcoherence.seed=N} runs that seed alone, {@code -Dcoherence.seconds=S} sets each
 * run's length (what {@code scripts/coherence-check} does for long runs), {@code -Dcoherence.faults}
 * chooses the faults ({@code restart,pubsub,slow,pressure}, {@code none}).
 */
class CoherenceCheckerIT {

    private static final long[] FIXED_SEEDS = {1, 2, 3};

    /**
     * The faults of the fixed-seed run when {@code -Dcoherence.faults} is not given: all of them.
     * (Pub/sub kills found the read served from L1 before a lost subscription's flush; fixed.)
     */
    private static final String VERIFY_FAULTS = "all";

    @Test
    void noInstanceServesAVersionOlderThanAWriteItHasBeenToldOf() throws InterruptedException {
        String seed = System.getProperty("coherence.seed", "");
        long[] seeds = seed.isBlank() ? FIXED_SEEDS : new long[] {Long.parseLong(seed.trim())};
        Duration each = Duration.ofSeconds(Long.getLong("coherence.seconds", 14));
        List<CoherenceChecker.Outcome> outcomes = new ArrayList<>();
        for (long s : seeds) {
            outcomes.add(CoherenceChecker.run(
                    Settings.of(s, each).withFaults(System.getProperty("coherence.faults", VERIFY_FAULTS))));
        }
        StringBuilder reports = new StringBuilder();
        outcomes.forEach(o -> reports.append(o.report()));
        for (CoherenceChecker.Outcome o : outcomes) {
            assertThat(o.unexpected())
                    .as("seed %d: nothing unexpected%s", o.seed(), reports)
                    .isEmpty();
            assertThat(o.violations())
                    .as("seed %d: violations%s", o.seed(), reports)
                    .isZero();
        }
    }

    /**
     * The checker checked: with invalidations that are recorded but never made, and bus messages
     * recorded as delivered but withheld from the cache, it must report local and remote violations.
     */
    @Test
    void theCheckerReportsAnInstanceThatIgnoresItsBusAndWritesThatNeverHappened() throws InterruptedException {
        CoherenceChecker.Outcome o = CoherenceChecker.run(Settings.of(7, Duration.ofSeconds(5))
                .withFaults("none")
                .withSabotage("deaf-bus", "silent-invalidates"));
        assertThat(o.byKind()).as(o.report()).containsKeys("local", "remote");
    }
}
