package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The README's core quick start, compiled and run so it cannot rot. Keep the two in step. */
class CoreQuickStartTest {

    @Test
    void readmeCoreQuickStartWorks() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            // A request's deadline and criticality, visible to every Headroom component it calls.
            try (RequestContext.Scope scope = RequestContext.current()
                    .withTimeout(Duration.ofMillis(250))
                    .withCriticality(Criticality.CRITICAL)
                    .open()) {
                assertThat(handle()).isEqualTo(Criticality.CRITICAL);

                // Hand the context to another thread explicitly.
                Executor executor = RequestContext.propagating(pool);
                assertThat(CompletableFuture.supplyAsync(CoreQuickStartTest::handle, executor)
                                .get(5, TimeUnit.SECONDS))
                        .isEqualTo(Criticality.CRITICAL);
            }

            // Capped exponential backoff with full jitter.
            Backoff backoff = Backoff.builder()
                    .base(Duration.ofMillis(50))
                    .cap(Duration.ofSeconds(5))
                    .maxAttempts(6)
                    .build();
            Backoff.Sequence delays = backoff.start();
            assertThat(delays.next()).isBetween(Duration.ZERO, Duration.ofMillis(50));

            // Strict codecs: malformed bytes throw CodecException naming the codec.
            byte[] bytes = Codec.utf8().encode("héllo");
            assertThat(bytes).hasSize(6);
        } finally {
            pool.shutdownNow();
        }
    }

    private static Criticality handle() {
        assertThat(RequestContext.current().deadline()).isPresent();
        return RequestContext.current().criticality();
    }
}
