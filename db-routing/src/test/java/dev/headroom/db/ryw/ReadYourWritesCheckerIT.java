package dev.headroom.db.ryw;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.OwnedReplica;
import dev.headroom.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * The seeded randomized read-your-writes checker (issue 13): routers that share one test-owned
 * replica ({@link OwnedReplica}) hand each write's token to a random reader on a random router,
 * while replay is paused and resumed and the replica restarted; no read with a token may see a
 * version older than the one handed with it. {@code -Dryw.seed} and {@code -Dryw.seconds} set the
 * run ({@code scripts/ryw-check} for long runs). The tests share the replica, one at a time.
 */
@ExtendWith(HeadroomServices.class)
@Execution(ExecutionMode.SAME_THREAD)
class ReadYourWritesCheckerIT {

    private static final long FIXED_SEED = 13;

    private static OwnedReplica owned;

    @BeforeAll
    static void makeReplica() {
        owned = OwnedReplica.create("ryw_checker");
    }

    @AfterAll
    static void removeReplica() {
        if (owned != null) {
            owned.close();
        }
    }

    @Test
    void noReadWithATokenFromAnyRouterSeesAVersionOlderThanTheWriteItWasHandedUnderReplayPausesAndARestart(
            TestDatabase db) throws Exception {
        Settings settings = Settings.fromProperties(FIXED_SEED, 4_000);
        Outcome o = RywChecker.run(settings, RywChecker.Mode.TOKEN, db, owned);
        System.out.print(o.report());
        assertThat(o.violations()).as("stale reads%s", o.report()).isZero();
        assertThat(o.reads()).as("reads checked%s", o.report()).isGreaterThanOrEqualTo(2_000);
        assertThat(o.onReplica())
                .as("reads served by the replica%s", o.report())
                .isPositive();
        assertThat(o.faults()).as(o.report()).containsKey("replay.pause");
        assertThat(o.faults().getOrDefault("restart", 0L) + o.faults().getOrDefault("crash+start", 0L))
                .as("replica restarts%s", o.report())
                .isPositive();
    }

    /** The checker checked: readers that drop the token while replay is paused must be caught reading stale rows. */
    @Test
    void theCheckerReportsStaleReadsWhenReadersIgnoreTheTokenWhileReplayIsPaused(TestDatabase db) throws Exception {
        Outcome o = RywChecker.run(
                new Settings(FIXED_SEED, 300, java.time.Duration.ZERO),
                RywChecker.Mode.SABOTAGE_IGNORE_TOKEN,
                db,
                owned);
        System.out.print(o.report());
        assertThat(o.violations()).as("stale reads seen%s", o.report()).isPositive();
        assertThat(o.onReplica())
                .as("reads served by the lagging replica%s", o.report())
                .isPositive();
    }

    /**
     * The separate-process variant: 3 worker JVMs, one router each, handing tokens to each other
     * through a mailbox table on the primary, the coordinator pausing and resuming replay and
     * restarting the replica. {@code -Dryw.processes} sets the number of workers.
     */
    @Test
    void noReadInAnyWorkerProcessSeesAVersionOlderThanATokenHandedFromAnotherProcess(TestDatabase db) throws Exception {
        Settings settings = Settings.fromProperties(FIXED_SEED, 3_000);
        Outcome o = RywProcesses.run(settings, Integer.getInteger("ryw.processes", 3), db, owned);
        System.out.print(o.report());
        assertThat(o.violations()).as("stale reads%s", o.report()).isZero();
        assertThat(o.reads()).as("reads checked%s", o.report()).isGreaterThanOrEqualTo(2_000);
        assertThat(o.onReplica())
                .as("reads served by the replica%s", o.report())
                .isPositive();
        assertThat(o.faults().getOrDefault("restart", 0L) + o.faults().getOrDefault("crash+start", 0L))
                .as("replica restarts%s", o.report())
                .isPositive();
    }

    /** The separate-process checker checked: worker processes whose readers drop the token must be caught reading stale rows. */
    @Test
    void theCheckerReportsStaleReadsAcrossProcessesWhenReadersIgnoreTheToken(TestDatabase db) throws Exception {
        Outcome o = RywProcesses.run(
                new Settings(FIXED_SEED, 300, java.time.Duration.ZERO),
                2,
                RywChecker.Mode.SABOTAGE_IGNORE_TOKEN,
                db,
                owned);
        System.out.print(o.report());
        assertThat(o.violations()).as("stale reads seen%s", o.report()).isPositive();
    }
}
