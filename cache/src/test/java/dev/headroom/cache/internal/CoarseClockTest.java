package dev.headroom.cache.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CoarseClockTest {

    private static final long MS = TimeUnit.MILLISECONDS.toNanos(1);

    /** The longest a test waits for a mode switch, which a busy shared machine may make late. */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final List<CoarseClock> clocks = new ArrayList<>();

    /** Short windows so mode switches happen within a test; {@code readsPerSecond} decides. */
    private CoarseClock clock(long readsPerSecond) {
        CoarseClock c = new CoarseClock(MS, 10 * MS, 50 * MS, 10 * MS, readsPerSecond).start("test-clock");
        clocks.add(c);
        return c;
    }

    @AfterEach
    void stopClocks() throws InterruptedException {
        for (CoarseClock c : clocks) {
            c.stop();
        }
    }

    @Test
    void staysPreciseWhenReadsAreBelowTheThreshold() {
        CoarseClock c = clock(Long.MAX_VALUE / 4);
        for (int i = 0; i < 200; i++) {
            long before = System.nanoTime();
            long read = c.read();
            long after = System.nanoTime();
            assertThat(read).isBetween(before, after);
        }
        assertThat(c.sampling()).isFalse();
    }

    @Test
    void samplesUnderManyReadsAndReturnsToPreciseWhenTheyStop() throws Exception {
        CoarseClock c = clock(1_000);
        AtomicBoolean reading = new AtomicBoolean(true);
        AtomicLong aheadOfNanoTime = new AtomicLong();
        Thread reader = new Thread(() -> {
            while (reading.get()) {
                long read = c.read();
                if (read - System.nanoTime() > 0) {
                    aheadOfNanoTime.incrementAndGet();
                }
            }
        });
        reader.start();
        try {
            await().atMost(TIMEOUT).until(c::sampling);
            long first = c.read();
            await().atMost(TIMEOUT).until(() -> c.read() != first);
        } finally {
            reading.set(false);
            reader.join();
        }
        await().atMost(TIMEOUT).until(() -> !c.sampling());
        assertThat(aheadOfNanoTime).hasValue(0);
    }

    @Test
    void concurrentReadersNeverSeeTimeAheadOfNanoTimeAcrossModeSwitches() throws Exception {
        CoarseClock c = clock(50_000);
        int threads = 8;
        CountDownLatch start = new CountDownLatch(1);
        AtomicLong ahead = new AtomicLong();
        AtomicLong sampledReads = new AtomicLong();
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread r = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                for (int i = 0; i < 400_000; i++) {
                    boolean sampled = c.sampling();
                    long read = c.read();
                    if (read - System.nanoTime() > 0) {
                        ahead.incrementAndGet();
                    }
                    if (sampled) {
                        sampledReads.incrementAndGet();
                    }
                }
            });
            r.start();
            readers.add(r);
        }
        start.countDown();
        for (Thread r : readers) {
            r.join();
        }
        assertThat(ahead).as("reads ahead of System.nanoTime()").hasValue(0);
        assertThat(sampledReads.get()).as("reads served from a sample").isPositive();
    }
}
