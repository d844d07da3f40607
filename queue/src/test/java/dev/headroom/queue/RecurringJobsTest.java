package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Recurring schedules: one job per tick across instances, whatever their timing; cron parsing. */
class RecurringJobsTest {

    private static final Instant T0 = Instant.parse("2026-12-04T10:00:00Z");

    /** A clock the test moves; shared by every instance like the wall clock. */
    private static final class MovableClock extends Clock {
        final AtomicReference<Instant> now = new AtomicReference<>(T0);

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now.get();
        }

        void advance(Duration d) {
            now.updateAndGet(t -> t.plus(d));
        }
    }

    @Test
    void threeInstancesFiringAtRandomMomentsEnqueueExactlyOneJobPerTick() throws Exception {
        InMemoryJobStore store = InMemoryJobStore.create();
        JobQueue queue = JobQueue.builder(store).build();
        MovableClock clock = new MovableClock();
        List<RecurringJobs> instances = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            instances.add(RecurringJobs.builder(queue)
                    .clock(clock)
                    .every("rates", Duration.ofMinutes(5), "refresh-rates", new byte[0])
                    .build());
        }
        Random random = new Random(42);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            // 2 hours in random steps; at each step the instances that are "up" fire at once
            for (int step = 0; step < 200; step++) {
                clock.advance(Duration.ofSeconds(random.nextInt(90)));
                CountDownLatch go = new CountDownLatch(1);
                List<Future<Long>> fired = new ArrayList<>();
                for (RecurringJobs r : instances) {
                    if (random.nextInt(4) != 0) { // sometimes an instance is paused for this step
                        fired.add(pool.submit(() -> {
                            go.await();
                            return r.fireDue();
                        }));
                    }
                }
                go.countDown();
                for (Future<Long> f : fired) {
                    f.get();
                }
            }
        } finally {
            pool.shutdownNow();
        }
        Instant end = clock.instant();
        long ticks = Duration.between(T0, end).toMinutes() / 5;
        List<ClaimedJob> jobs = store.claim(EnqueueOptions.DEFAULT_QUEUE, 10_000, Duration.ofMinutes(1), "check");
        List<Long> runAts =
                jobs.stream().map(j -> j.dueAt().toEpochMilli()).sorted().toList();
        assertThat(runAts).doesNotHaveDuplicates();
        assertThat(runAts)
                .allSatisfy(
                        t -> assertThat(t % Duration.ofMinutes(5).toMillis()).isZero());
        // every tick some instance was up for, at most one job; with 3 instances and 1 in 4 paused,
        // nearly every tick has one
        assertThat((long) runAts.size()).isBetween(ticks * 9 / 10, ticks);
        assertThat(jobs).allSatisfy(j -> assertThat(j.idempotencyKey()).startsWith("schedule:rates:"));
    }

    @Test
    void aTickPassedWhileNoInstanceRanIsSkippedAndALateInstanceStillEnqueuesTheTickItReached() {
        InMemoryJobStore store = InMemoryJobStore.create();
        JobQueue queue = JobQueue.builder(store).build();
        MovableClock clock = new MovableClock();
        RecurringJobs r = RecurringJobs.builder(queue)
                .clock(clock)
                .every("s", Duration.ofMinutes(1), "t", new byte[0])
                .build();
        assertThat(r.due("s")).isEqualTo(T0.plus(Duration.ofMinutes(1)));
        clock.advance(Duration.ofMinutes(10).plusSeconds(30)); // down for 10 ticks
        r.fireDue();
        List<ClaimedJob> jobs = store.claim(EnqueueOptions.DEFAULT_QUEUE, 100, Duration.ofMinutes(1), "c");
        assertThat(jobs).hasSize(1);
        assertThat(jobs.get(0).dueAt())
                .as("the tick it was due for, run at once")
                .isEqualTo(T0.plus(Duration.ofMinutes(1)));
        assertThat(r.due("s")).as("older ticks skipped").isEqualTo(T0.plus(Duration.ofMinutes(11)));
    }

    @Test
    void aFailedEnqueueIsRetriedUntilItsTickIsReplaced() {
        InMemoryJobStore store = InMemoryJobStore.create();
        boolean[] down = {true};
        JobStore flaky = new ForwardingJobStore(store) {
            @Override
            public EnqueueResult enqueue(NewJob job) {
                if (down[0]) {
                    throw new JobStoreException("enqueue", new java.sql.SQLException("database down"));
                }
                return super.enqueue(job);
            }
        };
        MovableClock clock = new MovableClock();
        RecurringJobs r = RecurringJobs.builder(JobQueue.builder(flaky).build())
                .clock(clock)
                .every("s", Duration.ofMinutes(1), "t", new byte[0])
                .build();
        clock.advance(Duration.ofSeconds(61));
        assertThat(r.fireDue()).as("retry in a second").isEqualTo(1_000);
        assertThat(r.due("s")).isEqualTo(T0.plus(Duration.ofMinutes(1)));
        down[0] = false;
        clock.advance(Duration.ofSeconds(1));
        r.fireDue();
        assertThat(store.stats(EnqueueOptions.DEFAULT_QUEUE).ready()).isEqualTo(1);
    }

    @Test
    void cronExpressionsFireWhereExpected() {
        ZoneId paris = ZoneId.of("Europe/Paris");
        ZonedDateTime friday = ZonedDateTime.of(2026, 12, 4, 10, 7, 0, 0, paris);
        assertThat(CronExpression.parse("0/15 9-17 * * 1-5").next(friday)).isEqualTo(friday.withMinute(15));
        assertThat(CronExpression.parse("30 2 * * *").next(friday))
                .isEqualTo(ZonedDateTime.of(2026, 12, 5, 2, 30, 0, 0, paris));
        assertThat(CronExpression.parse("0 0 * * 0").next(friday))
                .as("Sunday")
                .isEqualTo(ZonedDateTime.of(2026, 12, 6, 0, 0, 0, 0, paris));
        assertThat(CronExpression.parse("0 0 * * 7").next(friday))
                .as("7 is Sunday too")
                .isEqualTo(ZonedDateTime.of(2026, 12, 6, 0, 0, 0, 0, paris));
        assertThat(CronExpression.parse("0 0 29 2 *").next(friday))
                .as("a leap day")
                .isEqualTo(ZonedDateTime.of(2028, 2, 29, 0, 0, 0, 0, paris));
        assertThat(CronExpression.parse("0 12 1 * 1").next(friday))
                .as("day of month or day of week when both are restricted: Monday the 7th")
                .isEqualTo(ZonedDateTime.of(2026, 12, 7, 12, 0, 0, 0, paris));
        // 02:30 does not exist in Paris on 2027-03-28 (clocks jump from 02:00 to 03:00)
        ZonedDateTime beforeJump = ZonedDateTime.of(2027, 3, 28, 1, 0, 0, 0, paris);
        assertThat(CronExpression.parse("30 2 * * *").next(beforeJump).toLocalDate())
                .isNotEqualTo(beforeJump.toLocalDate().minusDays(1));
    }

    /**
     * Adversary findings: across Lord Howe's half-hour fall-back the search never ended; in Paris's
     * repeated hour a daily tick fired twice (two instants, two keys, two jobs).
     */
    @Test
    void acrossDaylightSavingTransitionsEachWallClockTickFiresOnceAndTheSearchEnds() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            ZoneId lordHowe = ZoneId.of("Australia/Lord_Howe"); // 2027-04-04 02:00 (+11) -> 01:30 (+10:30)
            for (String expression : List.of("0 3 * * *", "0 12 * * *", "45 1 * * *", "*/10 * * * *")) {
                CronExpression cron = CronExpression.parse(expression);
                ZonedDateTime t = ZonedDateTime.of(2027, 4, 3, 0, 0, 0, 0, lordHowe);
                java.util.Set<java.time.LocalDateTime> seen = new java.util.HashSet<>();
                for (int i = 0; i < 300; i++) {
                    ZonedDateTime next = cron.next(t);
                    assertThat(next)
                            .as("%s after %s", expression, t)
                            .isNotNull()
                            .isAfter(t);
                    assertThat(seen.add(next.toLocalDateTime()))
                            .as("%s fires once at wall-clock %s", expression, next)
                            .isTrue();
                    t = next;
                }
            }
            ZoneId paris = ZoneId.of("Europe/Paris"); // 2026-10-25 03:00 (+02) -> 02:00 (+01)
            CronExpression daily = CronExpression.parse("30 2 * * *");
            ZonedDateTime first = daily.next(ZonedDateTime.of(2026, 10, 24, 12, 0, 0, 0, paris));
            assertThat(first)
                    .isEqualTo(ZonedDateTime.ofLocal(
                            java.time.LocalDateTime.of(2026, 10, 25, 2, 30), paris, ZoneOffset.ofHours(2)));
            assertThat(daily.next(first))
                    .as("not again at 02:30+01:00")
                    .isEqualTo(ZonedDateTime.ofLocal(
                            java.time.LocalDateTime.of(2026, 10, 26, 2, 30), paris, ZoneOffset.ofHours(1)));
            assertThat(daily.next(ZonedDateTime.of(2027, 3, 28, 1, 0, 0, 0, paris)))
                    .as("02:30 does not exist on 2027-03-28: the next day's")
                    .isEqualTo(ZonedDateTime.of(2027, 3, 29, 2, 30, 0, 0, paris));
            assertThat(CronExpression.parse("0 0 29 2 *").next(ZonedDateTime.of(2096, 3, 1, 0, 0, 0, 0, paris)))
                    .as("2100 is no leap year: the next leap day is in 2104")
                    .isEqualTo(ZonedDateTime.of(2104, 2, 29, 0, 0, 0, 0, paris));
        });
    }

    @Test
    void cronFieldsTakeAsciiNumbersOnlyAndAStarStepLeavesTheDayUnrestricted() {
        assertThatThrownBy(() -> CronExpression.parse("\u0663 * * * *")).hasMessageContaining("is not a number");
        assertThatThrownBy(() -> CronExpression.parse("+5 * * * *")).hasMessageContaining("is not a number");
        ZonedDateTime friday = ZonedDateTime.of(2026, 12, 4, 10, 7, 0, 0, ZoneOffset.UTC);
        assertThat(CronExpression.parse("0 0 */1 * 1").next(friday))
                .as("*/1 leaves the day of month unrestricted, as in classic cron: Mondays only")
                .isEqualTo(ZonedDateTime.of(2026, 12, 7, 0, 0, 0, 0, ZoneOffset.UTC));
    }

    @Test
    void aTickAnotherInstanceEnqueuedWithAnotherPayloadCountsAsTakenEvenWhenDifferentPayloadsAreRejected() {
        InMemoryJobStore store = InMemoryJobStore.create();
        JobQueue queue = JobQueue.builder(store)
                .duplicatePolicy(DuplicatePolicy.REJECT_DIFFERENT_PAYLOAD)
                .build();
        MovableClock clock = new MovableClock();
        RecurringJobs oldDeploy = RecurringJobs.builder(queue)
                .clock(clock)
                .every("s", Duration.ofMinutes(1), "t", new byte[] {1})
                .build();
        RecurringJobs newDeploy = RecurringJobs.builder(queue)
                .clock(clock)
                .every("s", Duration.ofMinutes(1), "t", new byte[] {2})
                .build();
        clock.advance(Duration.ofSeconds(61));
        oldDeploy.fireDue();
        assertThat(newDeploy.fireDue())
                .as("no retry every second until the next tick")
                .isGreaterThan(1_000);
        assertThat(newDeploy.due("s")).isEqualTo(T0.plus(Duration.ofMinutes(2)));
        assertThat(store.stats(EnqueueOptions.DEFAULT_QUEUE).ready()).isEqualTo(1);
    }

    @Test
    void aScheduleNameTooLongForItsTicksKeysIsRefusedAtBuild() {
        JobQueue queue = JobQueue.builder(InMemoryJobStore.create()).build();
        assertThatThrownBy(() ->
                        RecurringJobs.builder(queue).every("n".repeat(231), Duration.ofMinutes(1), "t", new byte[0]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("name of schedule must be at most 230 characters");
        RecurringJobs.builder(queue).every("n".repeat(230), Duration.ofMinutes(1), "t", new byte[0]);
    }

    @Test
    void badSchedulesAreRefusedNamingTheProblem() {
        assertThatThrownBy(() -> CronExpression.parse("* * * *")).hasMessageContaining("must have 5 fields");
        assertThatThrownBy(() -> CronExpression.parse("60 * * * *")).hasMessageContaining("minute 60 is out of range");
        assertThatThrownBy(() -> CronExpression.parse("* 5-2 * * *")).hasMessageContaining("hour range '5-2'");
        assertThatThrownBy(() -> CronExpression.parse("* * * jan *"))
                .hasMessageContaining("month 'jan' is not a number");
        assertThatThrownBy(() -> CronExpression.parse("0 0 30 2 *")).hasMessageContaining("never fires");
        JobQueue queue = JobQueue.builder(InMemoryJobStore.create()).build();
        assertThatThrownBy(() -> RecurringJobs.builder(queue).build()).hasMessageContaining("no schedule");
        assertThatThrownBy(() -> RecurringJobs.builder(queue).every("s", Duration.ofMillis(10), "t", new byte[0]))
                .hasMessageContaining("period of schedule 's' must be at least 1 s");
        assertThatThrownBy(() -> RecurringJobs.builder(queue)
                        .every("s", Duration.ofMinutes(1), "t", new byte[0])
                        .cron("s", "* * * * *", ZoneOffset.UTC, "t", new byte[0]))
                .hasMessageContaining("schedule 's' is already defined");
    }
}
