package dev.headroom.cache.coherence;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The separate-process coherence checker in {@code verify}: 3 worker JVMs, one cache instance each,
 * a source of truth in PostgreSQL (127.0.0.1:5432, database {@code test}; {@code -Dcoherence.pgUrl}
 * overrides it), a Redis of its own, all faults, and one worker killed with SIGKILL and replaced.
 * {@code -Dcoherence.seed}, {@code -Dcoherence.seconds}, {@code -Dcoherence.faults} and {@code
 * -Dcoherence.processCount}, {@code -Dcoherence.processThreads} set the run (what {@code COHERENCE_PROCESSES=1 scripts/coherence-check}
 * does for long runs).
 */
class CoherenceProcessesIT {

    private static final long FIXED_SEED = 11;

    @Test
    void noWorkerProcessServesAVersionOlderThanAWriteItHasBeenToldOfEvenWhenOneIsKilled()
            throws InterruptedException, IOException {
        Settings settings = Settings.of(
                        Long.getLong("coherence.seed", FIXED_SEED),
                        Duration.ofSeconds(Long.getLong("coherence.seconds", 12)))
                .withFaults(System.getProperty("coherence.faults", "all"))
                .withScale(3, Integer.getInteger("coherence.processThreads", 3));
        CoherenceChecker.Outcome o =
                CoherenceProcesses.run(settings, Integer.getInteger("coherence.processCount", 3), true);
        assertThat(o.unexpected()).as("nothing unexpected%s", o.report()).isEmpty();
        assertThat(o.violations()).as("violations%s", o.report()).isZero();
        assertThat(o.readsChecked()).as("reads checked%s", o.report()).isGreaterThan(1_000);
        assertThat(o.counts()).as(o.report()).containsKey("fault.workerKilled");
    }

    /**
     * The checker checked across processes: two workers (no kill, to keep it short) whose invalidations
     * are recorded but never made, and whose bus messages are recorded as delivered but withheld from
     * the cache, must be reported.
     */
    @Test
    void theCheckerReportsWorkerProcessesThatIgnoreTheirBusAndWritesThatNeverHappened()
            throws InterruptedException, IOException {
        CoherenceChecker.Outcome o = CoherenceProcesses.run(
                Settings.of(7, Duration.ofSeconds(5))
                        .withFaults("none")
                        .withScale(2, 3)
                        .withSabotage("deaf-bus", "silent-invalidates"),
                2,
                false);
        assertThat(o.byKind()).as(o.report()).containsKeys("local", "remote");
    }
}
