package dev.headroom.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Backoff;
import dev.headroom.core.Codec;
import dev.headroom.core.testing.FakeTicker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

class JobQueueTest {

    private static final Duration LEASE = Duration.ofMinutes(5);

    private final FakeTicker ticker = new FakeTicker();
    private final InMemoryJobStore store = InMemoryJobStore.create(ticker);
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final JobQueue queue = JobQueue.builder(store)
            .backoff(Backoff.builder()
                    .base(Duration.ofSeconds(10))
                    .cap(Duration.ofMinutes(1))
                    .jitter(Backoff.Jitter.NONE)
                    .build())
            .maxPayloadBytes(16)
            .worker("worker-1")
            .meterRegistry(registry)
            .build();

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private double count(String name, String... tags) {
        return registry.find(name).tags(tags).counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    @Test
    void badInputIsRefusedWithAnExceptionNamingTheField() {
        assertThatThrownBy(() -> queue.enqueue(null, bytes("p")))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("type");
        assertThatThrownBy(() -> queue.enqueue("  ", bytes("p")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("type");
        assertThatThrownBy(() -> queue.enqueue("t", null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("payload");
        assertThatThrownBy(() -> queue.enqueue("t", new byte[17]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("payload")
                .hasMessageContaining("17");
        assertThatThrownBy(() -> EnqueueOptions.builder().maxAttempts(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxAttempts");
        assertThatThrownBy(() -> EnqueueOptions.builder().queue(""))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("queue");
        assertThatThrownBy(() -> EnqueueOptions.builder().idempotencyKey("x".repeat(256)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("idempotencyKey");
        assertThatThrownBy(() -> EnqueueOptions.builder().priority(40_000))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("priority");
        assertThatThrownBy(() -> JobQueue.builder(store).maxPayloadBytes(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("maxPayloadBytes");
        assertThat(queue.claim(EnqueueOptions.DEFAULT_QUEUE, 10, LEASE))
                .as("nothing was enqueued")
                .isEmpty();
    }

    @Test
    void aDuplicateKeyReturnsTheExistingJobOrIsRejectedWhenItsPayloadDiffers() {
        EnqueueOptions keyed = EnqueueOptions.builder().idempotencyKey("k").build();
        JobId first = queue.enqueue("t", "a", Codec.utf8(), keyed);
        assertThat(queue.enqueue("t", "a", Codec.utf8(), keyed)).isEqualTo(first);
        assertThat(queue.enqueue("t", "b", Codec.utf8(), keyed))
                .as("return existing")
                .isEqualTo(first);

        JobQueue strict = JobQueue.builder(store)
                .duplicatePolicy(DuplicatePolicy.REJECT_DIFFERENT_PAYLOAD)
                .build();
        assertThat(strict.enqueue("t", "a", Codec.utf8(), keyed)).isEqualTo(first);
        assertThatThrownBy(() -> strict.enqueue("t", "b", Codec.utf8(), keyed))
                .isInstanceOfSatisfying(DuplicateJobException.class, e -> {
                    assertThat(e.existingJob()).isEqualTo(first);
                    assertThat(e.idempotencyKey()).isEqualTo("k");
                });
        assertThatThrownBy(() -> strict.enqueue("other-type", "a", Codec.utf8(), keyed))
                .isInstanceOf(DuplicateJobException.class);
        assertThat(count("headroom.queue.enqueued", "queue", "default", "result", "created"))
                .isEqualTo(1);
        assertThat(count("headroom.queue.enqueued", "queue", "default", "result", "duplicate"))
                .isEqualTo(2);
    }

    @Test
    void failuresAreRetriedAfterTheBackoffDelayThenDeadLetteredAndCounted() {
        queue.enqueue("t", bytes("p"), EnqueueOptions.builder().maxAttempts(3).build());
        ClaimedJob first = queue.claim("default", 1, LEASE).get(0);
        assertThat(queue.fail(first, new IllegalStateException("boom"))).isEqualTo(FailOutcome.RETRY_SCHEDULED);
        ticker.advance(Duration.ofSeconds(10).minusMillis(1));
        assertThat(queue.claim("default", 1, LEASE)).as("before base delay").isEmpty();
        ticker.advance(Duration.ofMillis(1));
        ClaimedJob second = queue.claim("default", 1, LEASE).get(0);
        assertThat(queue.fail(second, "again")).isEqualTo(FailOutcome.RETRY_SCHEDULED);
        ticker.advance(Duration.ofSeconds(20).minusMillis(1));
        assertThat(queue.claim("default", 1, LEASE))
                .as("before twice the base delay")
                .isEmpty();
        ticker.advance(Duration.ofMillis(1));
        ClaimedJob third = queue.claim("default", 1, LEASE).get(0);
        assertThat(third.isLastAttempt()).isTrue();
        assertThat(queue.fail(third, "last")).isEqualTo(FailOutcome.DEAD_LETTERED);

        List<DeadLetter> dead = queue.deadLetters().list(DeadLetterFilter.all(), 10);
        assertThat(dead).singleElement().satisfies(d -> {
            assertThat(d.errors().get(0).message())
                    .contains("IllegalStateException: boom")
                    .contains("JobQueueTest");
            assertThat(d.errors()).extracting(JobError::worker).containsOnly("worker-1");
        });
        assertThat(count("headroom.queue.claimed", "queue", "default")).isEqualTo(3);
        assertThat(count("headroom.queue.failed", "queue", "default")).isEqualTo(2);
        assertThat(count("headroom.queue.dead_lettered", "queue", "default")).isEqualTo(1);
    }

    @Test
    void aLeaseThatExpiresOnTheLastAttemptIsCountedAsDeadLetteredByTheClaimThatBuriesIt() {
        queue.enqueue("t", bytes("p"), EnqueueOptions.builder().maxAttempts(1).build());
        assertThat(queue.claim("default", 1, LEASE)).hasSize(1);
        ticker.advance(LEASE);
        assertThat(queue.claim("default", 1, LEASE)).isEmpty();
        assertThat(queue.deadLetters().list(DeadLetterFilter.all(), 10)).hasSize(1);
        assertThat(count("headroom.queue.dead_lettered", "queue", "default")).isEqualTo(1);
    }

    @Test
    void decorrelatedRetryDelaysGrowWithTheAttemptThoughAJobDoesNotCarryItsLastDelay() {
        RandomGenerator highest = new RandomGenerator() {
            @Override
            public long nextLong() {
                return Long.MAX_VALUE;
            }

            @Override
            public long nextLong(long bound) {
                return bound - 1;
            }
        };
        JobQueue decorrelated = JobQueue.builder(store)
                .backoff(Backoff.builder()
                        .base(Duration.ofSeconds(10))
                        .cap(Duration.ofHours(1))
                        .jitter(Backoff.Jitter.DECORRELATED)
                        .random(highest)
                        .build())
                .build();
        decorrelated.enqueue(
                "t", bytes("p"), EnqueueOptions.builder().maxAttempts(10).build());
        // Always the top of [base, 3 x previous], previous = the un-jittered step of the attempt
        // before: 30 s, 30 s, 60 s, 120 s (with no previous delay it stayed at 30 s forever).
        for (Duration expected : List.of(
                Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(120))) {
            ClaimedJob job = decorrelated.claim("default", 1, LEASE).get(0);
            assertThat(decorrelated.fail(job, "again")).isEqualTo(FailOutcome.RETRY_SCHEDULED);
            ticker.advance(expected.minusMillis(1));
            assertThat(decorrelated.claim("default", 1, LEASE))
                    .as("retry %d before %s", job.attempt(), expected)
                    .isEmpty();
            ticker.advance(Duration.ofMillis(1));
        }
        assertThat(decorrelated.claim("default", 1, LEASE)).hasSize(1);
    }

    @Test
    void aStaleTokenIsRefusedAndCounted() {
        queue.enqueue("t", bytes("p"), EnqueueOptions.builder().queue("mail").build());
        ClaimedJob old = queue.claim("mail", 1, Duration.ofSeconds(30)).get(0);
        ticker.advance(Duration.ofSeconds(31));
        ClaimedJob current = queue.claim("mail", 1, LEASE).get(0);
        assertThat(queue.complete(old)).isFalse();
        assertThat(queue.fail(old, "late")).isEqualTo(FailOutcome.STALE_LEASE);
        assertThat(queue.failPermanently(old, "late")).isEqualTo(FailOutcome.STALE_LEASE);
        assertThat(queue.heartbeat(old, LEASE)).isEmpty();
        assertThat(count("headroom.queue.stale_token_refused", "queue", "mail")).isEqualTo(4);
        assertThat(queue.heartbeat(current, LEASE)).isPresent();
        assertThat(queue.complete(current)).isTrue();
        assertThat(count("headroom.queue.completed", "queue", "mail")).isEqualTo(1);
        assertThat(registry.getMeters())
                .allSatisfy(m -> assertThat(m.getId().getTags())
                        .extracting(t -> t.getKey())
                        .isSubsetOf("queue", "result", "operation"));
        queue.close();
        assertThat(registry.find("headroom.queue.completed").counters()).isEmpty();
    }
}
