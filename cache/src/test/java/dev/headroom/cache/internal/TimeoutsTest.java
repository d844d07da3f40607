package dev.headroom.cache.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TimeoutsTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    /**
     * The longest a test waits for the timer thread, which a busy shared machine may run late; these
     * tests prove what it completes and how, not how soon. Awaitility polls every 100 ms by default.
     */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final Timeouts timeouts = new Timeouts().start("test-timeouts");

    @AfterEach
    void stop() throws InterruptedException {
        timeouts.stop();
    }

    @Test
    void aCallThatNeverAnswersFailsWithATimeoutNamingTheBound() {
        long start = System.nanoTime();
        CompletableFuture<String> bounded = timeouts.within(new CompletableFuture<String>(), 50 * MS);

        assertThatThrownBy(() -> bounded.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(TimeoutException.class)
                .hasMessage("no answer within 50 ms");
        assertThat(System.nanoTime() - start).as("never before the deadline").isGreaterThanOrEqualTo(50 * MS);
        await().atMost(TIMEOUT).until(() -> timeouts.pending() == 0);
    }

    @Test
    void aCallThatAnswersKeepsItsValueOrErrorAndIsForgotten() throws Exception {
        CompletableFuture<String> ok = new CompletableFuture<>();
        CompletableFuture<String> failing = new CompletableFuture<>();
        CompletableFuture<String> boundedOk = timeouts.within(ok, 10_000 * MS);
        CompletableFuture<String> boundedFailing = timeouts.within(failing, 10_000 * MS);
        assertThat(timeouts.pending()).isEqualTo(2);

        ok.complete("v");
        failing.completeExceptionally(new IllegalStateException("down"));

        assertThat(boundedOk.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("v");
        assertThatThrownBy(() -> boundedFailing.get(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                .cause()
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("down");
        assertThat(timeouts.pending()).isZero();
        assertThat(timeouts.within(CompletableFuture.completedFuture("done"), MS)
                        .getNow(null))
                .isEqualTo("done");
    }

    @Test
    void anEarlierDeadlineWakesTheThreadSleepingUntilALaterOne() {
        timeouts.within(new CompletableFuture<String>(), 60_000 * MS);
        await().atMost(TIMEOUT).until(() -> timeouts.wakeAt() - System.nanoTime() > 10_000 * MS);

        CompletableFuture<String> shortOne = timeouts.within(new CompletableFuture<String>(), 30 * MS);

        // TIMEOUT must stay well below the 60 s deadline: a thread left sleeping until then would
        // fail the short one only at 60 s, after this wait has given up.
        await().atMost(TIMEOUT).until(shortOne::isCompletedExceptionally);
    }

    @Test
    void manyThreadsMixingAnsweredAndSilentCallsGetExactlyTheirOutcome() throws Exception {
        int threads = 8;
        int calls = 5_000;
        AtomicInteger answered = new AtomicInteger();
        AtomicInteger timedOut = new AtomicInteger();
        AtomicInteger wrong = new AtomicInteger();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        List<CompletableFuture<Integer>> all = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                for (int i = 0; i < calls; i++) {
                    CompletableFuture<Integer> call = new CompletableFuture<>();
                    int expected = i;
                    boolean silent = i % 10 == 0;
                    // Silent calls get 1..20 ms; answered ones a bound they cannot miss even when
                    // this thread is descheduled between registering and answering on a busy machine.
                    long timeout = silent ? (1 + i % 20) * MS : 2 * TIMEOUT.toNanos();
                    CompletableFuture<Integer> bounded = timeouts.within(call, timeout);
                    // the counting stage is what the test waits for: allOf over the bounded futures
                    // alone could return before their callbacks had counted
                    CompletableFuture<Integer> counted = bounded.whenComplete((v, e) -> {
                        if (silent && e instanceof TimeoutException) {
                            timedOut.incrementAndGet();
                        } else if (!silent && e == null && v == expected) {
                            answered.incrementAndGet();
                        } else {
                            wrong.incrementAndGet();
                        }
                    });
                    all.add(counted);
                    if (!silent) {
                        call.complete(i);
                    }
                }
            });
            w.start();
            workers.add(w);
        }
        start.countDown();
        for (Thread w : workers) {
            w.join();
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
                .handle((v, e) -> null)
                .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);

        assertThat(wrong).hasValue(0);
        assertThat(timedOut).hasValue(threads * calls / 10);
        assertThat(answered).hasValue(threads * calls * 9 / 10);
        await().atMost(TIMEOUT).until(() -> timeouts.pending() == 0);
    }
}
