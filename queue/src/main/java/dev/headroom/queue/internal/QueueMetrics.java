package dev.headroom.queue.internal;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The queue's meters, {@code headroom.queue.*}, tagged by queue name only (never a job id or key).
 * Without a registry every method does nothing. Thread-safe.
 */
public final class QueueMetrics {

    private final @Nullable MeterRegistry registry;
    private final Map<List<String>, Counter> counters = new ConcurrentHashMap<>();

    /**
     * Creates the metrics.
     *
     * @param registry where to register, or null for none
     */
    public QueueMetrics(@Nullable MeterRegistry registry) {
        this.registry = registry;
    }

    /** A job was created ({@code result=created}) or a duplicate key found an existing one. */
    public void enqueued(String queue, boolean created) {
        count("headroom.queue.enqueued", queue, "result", created ? "created" : "duplicate", 1);
    }

    /** Jobs were claimed. */
    public void claimed(String queue, int jobs) {
        if (jobs > 0) {
            count("headroom.queue.claimed", queue, null, null, jobs);
        }
    }

    /** A job completed. */
    public void completed(String queue) {
        count("headroom.queue.completed", queue, null, null, 1);
    }

    /** An attempt failed and a retry was scheduled. */
    public void failed(String queue) {
        count("headroom.queue.failed", queue, null, null, 1);
    }

    /** A job became a dead letter. */
    public void deadLettered(String queue) {
        count("headroom.queue.dead_lettered", queue, null, null, 1);
    }

    /** An unstarted job was given back. */
    public void released(String queue) {
        count("headroom.queue.released", queue, null, null, 1);
    }

    /** A complete, fail or heartbeat was refused because its lease token was stale. */
    public void staleTokenRefused(String queue, String operation) {
        count("headroom.queue.stale_token_refused", queue, "operation", operation, 1);
    }

    /** Removes every meter this instance registered. */
    public void close() {
        MeterRegistry r = registry;
        if (r == null) {
            return;
        }
        for (Meter m : counters.values()) {
            r.remove(m);
        }
        counters.clear();
    }

    private void count(String name, String queue, @Nullable String tag, @Nullable String value, int n) {
        MeterRegistry r = registry;
        if (r == null) {
            return;
        }
        List<String> id = tag == null || value == null ? List.of(name, queue) : List.of(name, queue, tag, value);
        counters.computeIfAbsent(id, k -> {
                    Counter.Builder b = Counter.builder(name).tag("queue", queue);
                    if (tag != null && value != null) {
                        b.tag(tag, value);
                    }
                    return b.register(r);
                })
                .increment(n);
    }
}
