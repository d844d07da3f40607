package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.testing.FakeTicker;
import java.time.Duration;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * A deterministic simulation (fake ticker, one thread, no sleeping) of a dependency whose latency is
 * flat up to a concurrency knee and grows in proportion beyond it, as a server with {@code knee}
 * workers and a queue behaves. Unlimited demand keeps the guard full; the adaptive limit must find
 * the knee from latency alone, and follow it down when the dependency loses capacity.
 */
class AdaptiveLimitSimulationTest {
    private static final long BASE_LATENCY = Duration.ofMillis(10).toNanos();

    /** The simulated dependency and its clients. */
    private static final class Simulation {
        private record Reply(long at, long seq, CompletableFuture<String> future) {}

        private final FakeTicker ticker = new FakeTicker();
        private final PriorityQueue<Reply> replies =
                new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at) : Long.compare(a.seq, b.seq));
        private final LongUnaryOperator noise;
        private int knee;
        private int running;
        private long seq;

        Simulation(int knee) {
            this(knee, LongUnaryOperator.identity());
        }

        /** {@code noise} turns each reply's noiseless latency into the one observed. */
        Simulation(int knee, LongUnaryOperator noise) {
            this.knee = knee;
            this.noise = noise;
        }

        CompletableFuture<String> call() {
            running++;
            long latency = noise.applyAsLong(running <= knee ? BASE_LATENCY : BASE_LATENCY * running / knee);
            CompletableFuture<String> reply = new CompletableFuture<>();
            replies.add(new Reply(ticker.read() + latency, seq++, reply));
            return reply;
        }

        /** Runs {@code replies} completions with the guard kept full; returns the mean limit over the last half. */
        double run(Guard guard, int completions) {
            double sum = 0;
            int counted = 0;
            for (int i = 0; i < completions; i++) {
                while (!guard.getAsync(this::call).toCompletableFuture().isCompletedExceptionally()) {
                    // fill every free slot: demand is unlimited
                }
                Reply next = replies.poll();
                ticker.advance(next.at - ticker.read());
                running--;
                next.future.complete("ok");
                if (i >= completions / 2) {
                    sum += guard.limit();
                    counted++;
                }
            }
            return sum / counted;
        }
    }

    private static Guard guard(String name, AdaptiveLimit limit, FakeTicker ticker) {
        return Guard.builder(name)
                .adaptiveLimit(limit)
                .shedding(1.0, 1.0)
                .noTimeout()
                .noCircuitBreaker()
                .ticker(ticker)
                .build();
    }

    private static void convergesToTheKneeAndFollowsItDown(String name, AdaptiveLimit limit) {
        convergesToTheKneeAndFollowsItDown(name, limit, new Simulation(100));
    }

    private static void convergesToTheKneeAndFollowsItDown(String name, AdaptiveLimit limit, Simulation sim) {
        try (Guard guard = guard(name, limit, sim.ticker)) {
            double atHundred = sim.run(guard, 40_000);
            sim.knee = 40; // the dependency loses capacity
            double atForty = sim.run(guard, 40_000);
            System.out.printf("%s: mean limit %.1f at knee 100, %.1f at knee 40%n", name, atHundred, atForty);
            assertThat(atHundred).isBetween(80.0, 120.0);
            assertThat(atForty).isBetween(32.0, 48.0);
            assertThat(guard.limit()).isBetween(32, 48);
        }
    }

    @Test
    void aimdConvergesToWithinTwentyPercentOfTheKneeAndBacksOffWhenTheKneeMovesDown() {
        convergesToTheKneeAndFollowsItDown(
                "aimd",
                AdaptiveLimit.aimd()
                        .initialLimit(20)
                        .maxLimit(500)
                        .latencyThreshold(Duration.ofNanos(BASE_LATENCY * 11 / 10))
                        .build());
    }

    @Test
    void gradientConvergesToWithinTwentyPercentOfTheKneeAndBacksOffWhenTheKneeMovesDown() {
        convergesToTheKneeAndFollowsItDown(
                "gradient",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build());
    }

    /**
     * Real latencies are never flat: every reply varies by up to 10% either way. A limit that took the
     * lowest latency ever seen as its no-queueing baseline read that spread as queueing and settled
     * at 41 for a knee of 100.
     */
    @Test
    void gradientFindsTheKneeThroughLatencyNoise() {
        SplittableRandom random = new SplittableRandom(42);
        convergesToTheKneeAndFollowsItDown(
                "gradient-noisy",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build(),
                new Simulation(100, latency -> Math.round(latency * (0.9 + 0.2 * random.nextDouble()))));
    }

    /**
     * One reply in a hundred comes back ten times faster than the rest (a cached answer, an early
     * error): a limit anchored on single fast replies settled at 8 for a knee of 100.
     */
    @Test
    void gradientIsNotAnchoredByRareFastReplies() {
        SplittableRandom random = new SplittableRandom(7);
        convergesToTheKneeAndFollowsItDown(
                "gradient-fast-outliers",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build(),
                new Simulation(100, latency -> random.nextInt(100) == 0 ? latency / 10 : latency));
    }

    /**
     * The first 40 replies come back three times faster (a warm cache, an empty queue): a baseline kept
     * from them for good held the limit at 8 for a knee of 100. The probe re-measures it.
     */
    @Test
    void gradientRecoversFromAFastStart() {
        long[] calls = {0};
        Simulation sim = new Simulation(100, latency -> ++calls[0] <= 40 ? latency / 3 : latency);
        try (Guard guard = guard(
                "gradient-fast-start",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build(),
                sim.ticker)) {
            double mean = sim.run(guard, 300_000); // about 30 s of simulated time, three probes
            System.out.printf("gradient-fast-start: mean limit %.1f at knee 100%n", mean);
            assertThat(mean).isBetween(80.0, 120.0);
        }
    }

    /** The dependency becomes twice as slow for good, with the same knee: the limit must stay there. */
    @Test
    void gradientRelearnsADependencyThatBecameSlowerForGood() {
        long[] calls = {0};
        Simulation sim = new Simulation(100, latency -> ++calls[0] <= 100_000 ? latency / 2 : latency);
        try (Guard guard = guard(
                "gradient-slower",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build(),
                sim.ticker)) {
            double before = sim.run(guard, 100_000);
            double after = sim.run(guard, 300_000);
            System.out.printf("gradient-slower: mean limit %.1f at 5 ms, %.1f at 10 ms (knee 100)%n", before, after);
            assertThat(before).isBetween(80.0, 120.0);
            assertThat(after).isBetween(80.0, 120.0);
        }
    }

    /**
     * A steady overload for a long time (600,000 replies, about a minute of simulated time): a
     * baseline that drifted up per sample let the limit double every ~700,000 samples (261 after
     * 1,000,000); the limit must stay at the knee.
     */
    @Test
    void gradientStaysAtTheKneeUnderALongSteadyOverload() {
        Simulation sim = new Simulation(100);
        try (Guard guard = guard(
                "gradient-long",
                AdaptiveLimit.gradient().initialLimit(20).maxLimit(500).build(),
                sim.ticker)) {
            double mean = sim.run(guard, 600_000);
            System.out.printf("gradient-long: mean limit %.1f over the last 300,000 replies, knee 100%n", mean);
            assertThat(mean).isBetween(80.0, 120.0);
            assertThat(guard.limit()).isBetween(50, 120); // 50: the end may fall inside a probe
        }
    }

    /** Both at once, and the AIMD limit under the same noise (its threshold above the spread). */
    @Test
    void aimdFindsTheKneeThroughLatencyNoise() {
        SplittableRandom random = new SplittableRandom(3);
        convergesToTheKneeAndFollowsItDown(
                "aimd-noisy",
                AdaptiveLimit.aimd()
                        .initialLimit(20)
                        .maxLimit(500)
                        .latencyThreshold(Duration.ofNanos(BASE_LATENCY * 12 / 10))
                        .build(),
                new Simulation(
                        100,
                        latency -> random.nextInt(100) == 0
                                ? latency / 10
                                : Math.round(latency * (0.9 + 0.2 * random.nextDouble()))));
    }

    @Test
    void failuresShrinkTheLimitOncePerWindowNotOncePerFailure() {
        FakeTicker ticker = new FakeTicker();
        try (Guard guard =
                guard("aimd-failures", AdaptiveLimit.aimd().initialLimit(100).build(), ticker)) {
            CompletableFuture<String> failing = new CompletableFuture<>();
            for (int i = 0; i < 50; i++) {
                guard.getAsync(() -> failing);
            }
            ticker.advance(Duration.ofMillis(5));
            failing.completeExceptionally(new IllegalStateException("overloaded"));
            // fifty failures of calls that all started before the first decrease: one decrease
            assertThat(guard.limit()).isEqualTo(90);
            assertThat(guard.inFlight()).isZero();
        }
    }
}
