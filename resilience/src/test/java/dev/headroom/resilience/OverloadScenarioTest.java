package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Deadline;
import dev.headroom.core.RequestContext;
import dev.headroom.core.testing.FakeTicker;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * Graceful degradation against cascading failure, simulated in process and in virtual time (a fake
 * ticker; the whole scenario runs in well under a second): a dependency with 20 workers and a
 * 10 ms service time (capacity 2,000 calls/s) behind an unbounded FIFO queue, offered 3× its capacity
 * by clients whose requests carry a 100 ms deadline. A reply after the deadline is useless; goodput
 * counts the replies that arrive in time, over the second half of a 6 s run.
 *
 * <p>Without a guard the queue grows without bound, the dependency spends all its time on requests
 * whose callers gave up long ago, and goodput collapses. With a guard the excess is refused at once
 * and what is admitted is served in time. (The fixed bulkhead of 20 keeps its default 10% for
 * CRITICAL work, so DEFAULT traffic uses at most 18 workers: about 90%.)
 */
class OverloadScenarioTest {
    private static final int WORKERS = 20;
    private static final long SERVICE = Duration.ofMillis(10).toNanos();
    private static final double CAPACITY_PER_NANO = (double) WORKERS / SERVICE;
    private static final long INTERARRIVAL = SERVICE / (3 * WORKERS); // 3x capacity
    private static final long DEADLINE = Duration.ofMillis(100).toNanos();
    private static final long RUN = Duration.ofSeconds(6).toNanos();

    /** The dependency: WORKERS servers and an unbounded queue, in virtual time. */
    private static final class Dependency {
        private record Done(long at, long seq, CompletableFuture<String> reply) {}

        final FakeTicker ticker = new FakeTicker();
        private final ArrayDeque<CompletableFuture<String>> queue = new ArrayDeque<>();
        private final PriorityQueue<Done> done =
                new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at) : Long.compare(a.seq, b.seq));
        private int busy;
        private long seq;

        CompletableFuture<String> call() {
            CompletableFuture<String> reply = new CompletableFuture<>();
            if (busy < WORKERS) {
                busy++;
                done.add(new Done(ticker.read() + SERVICE, seq++, reply));
            } else {
                queue.add(reply);
            }
            return reply;
        }

        @Nullable
        Long nextCompletion() {
            Done d = done.peek();
            return d == null ? null : d.at;
        }

        void completeNext() {
            Done d = done.remove();
            ticker.advance(d.at - ticker.read());
            d.reply.complete("ok");
            CompletableFuture<String> next = queue.poll();
            if (next != null) {
                done.add(new Done(ticker.read() + SERVICE, seq++, next));
            } else {
                busy--;
            }
        }
    }

    /**
     * Runs the scenario; each arrival calls {@code client} inside a scope carrying its deadline.
     *
     * @return goodput over the second half as a fraction of the dependency's capacity
     */
    private static double goodput(Dependency dep, Function<Dependency, CompletionStage<String>> client) {
        long start = dep.ticker.read();
        long[] good = new long[1];
        long nextArrival = start;
        while (nextArrival < start + RUN) {
            Long completion = dep.nextCompletion();
            if (completion != null && completion <= nextArrival) {
                dep.completeNext();
                continue;
            }
            dep.ticker.advance(nextArrival - dep.ticker.read());
            Deadline deadline = Deadline.after(Duration.ofNanos(DEADLINE), dep.ticker);
            long arrivedAt = dep.ticker.read();
            try (RequestContext.Scope s =
                    RequestContext.current().withDeadline(deadline).open()) {
                client.apply(dep).whenComplete((v, e) -> {
                    if (e == null && !deadline.isExpired() && arrivedAt >= start + RUN / 2) {
                        good[0]++;
                    }
                });
            }
            nextArrival += INTERARRIVAL;
        }
        return good[0] / ((RUN / 2) * CAPACITY_PER_NANO);
    }

    /** Timeouts follow the simulation's clock (deadlines on the fake ticker), never the wall clock. */
    private static ScheduledThreadPoolExecutor neverFiring() {
        ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1) {
            @Override
            public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
                return super.schedule(command, 1, TimeUnit.DAYS);
            }
        };
        s.setRemoveOnCancelPolicy(true);
        return s;
    }

    @Test
    void atThreeTimesCapacityGoodputCollapsesWithoutAGuardAndStaysAboveEightyPercentWithOne() {
        double unguarded = goodput(new Dependency(), Dependency::call);

        Dependency fixedDep = new Dependency();
        ScheduledThreadPoolExecutor scheduler = neverFiring();
        double fixed;
        try (Guard guard = Guard.builder("overload-fixed")
                .maxConcurrentCalls(WORKERS)
                .ticker(fixedDep.ticker)
                .scheduler(scheduler)
                .build()) {
            fixed = goodput(fixedDep, d -> guard.getAsync(d::call));
        }

        Dependency adaptiveDep = new Dependency();
        double adaptive;
        int learnt;
        try (Guard guard = Guard.builder("overload-adaptive")
                .adaptiveLimit(AdaptiveLimit.gradient().initialLimit(5).build())
                .ticker(adaptiveDep.ticker)
                .scheduler(scheduler)
                .build()) {
            adaptive = goodput(adaptiveDep, d -> guard.getAsync(d::call));
            learnt = guard.limit();
        } finally {
            scheduler.shutdownNow();
        }

        System.out.printf(
                "overload at 3x capacity: goodput without guard %.1f%%, with a fixed bulkhead of %d %.1f%%,"
                        + " with a gradient limit (learnt %d) %.1f%% of capacity%n",
                unguarded * 100, WORKERS, fixed * 100, learnt, adaptive * 100);
        assertThat(unguarded).isLessThan(0.10);
        assertThat(fixed).isGreaterThanOrEqualTo(0.80);
        assertThat(adaptive).isGreaterThanOrEqualTo(0.80);
    }
}
