package dev.headroom.resilience;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** slf4j-simple (the test binding) writes to whatever {@code System.err} is when it logs. */
class BreakerLoggingTest {

    @Test
    void aCircuitBreakerOpeningUnderManyFailingThreadsIsLoggedOnceNotOncePerCall() throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream original = System.err;
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try (Guard guard = Guard.builder("logged-breaker")
                .maxConcurrentCalls(100)
                .noTimeout()
                .circuitBreaker(new CircuitBreakerPolicy(50, 20, 20, Duration.ofMinutes(5), 1))
                .build()) {
            ExecutorService pool = Executors.newFixedThreadPool(8);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                done.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < 200; i++) {
                        try {
                            guard.get(() -> {
                                throw new IllegalStateException("down");
                            });
                        } catch (RuntimeException expected) {
                            // failures, then CIRCUIT_OPEN rejections
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(1, TimeUnit.MINUTES);
            }
            pool.shutdown();
        } finally {
            System.setErr(original);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8)
                .lines()
                .filter(l -> l.contains("guard 'logged-breaker'"))
                .toList();
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0)).contains("WARN").contains("CLOSED -> OPEN");
    }
}
