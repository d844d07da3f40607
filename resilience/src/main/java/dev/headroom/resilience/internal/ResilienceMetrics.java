package dev.headroom.resilience.internal;

import dev.headroom.core.Criticality;
import dev.headroom.resilience.RejectionReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The headroom meters of one guard, all tagged {@code guard} (its name) and nothing per request:
 *
 * <ul>
 *   <li>{@code headroom.resilience.rejections{reason, criticality}}: calls refused before the
 *       dependency was called (shedding, full bulkhead, open circuit, deadline refusals, throttling);
 *   <li>{@code headroom.resilience.retries{outcome=made|budget_exhausted|deadline}}: retries granted
 *       (a granted retry's attempt may still be refused by the breaker or the bulkhead, which ends
 *       the call), and retries the budget or the deadline refused;
 *   <li>{@code headroom.resilience.timeouts}: calls that ran out of time;
 *   <li>gauges {@code headroom.resilience.limit} (the adaptive limit's value), {@code
 *       headroom.resilience.inflight}, {@code headroom.resilience.retry.budget.available}, {@code
 *       headroom.resilience.throttle.probability}.
 * </ul>
 *
 * <p>Resilience4j's own circuit-breaker meters ({@code resilience4j.circuitbreaker.*}, tag {@code
 * name}) are published beside these by the engine. Every meter is removed on {@link #close()}.
 * Thread-safe. Not API.
 */
public final class ResilienceMetrics implements AutoCloseable {
    private final MeterRegistry registry;
    private final String guard;
    private final List<Meter> meters = new ArrayList<>();
    private final Counter[][] rejections;
    private final Counter retriesMade;
    private final Counter retriesBudgetExhausted;
    private final Counter retriesDeadline;
    private final Counter timeouts;

    public ResilienceMetrics(MeterRegistry registry, String guard) {
        this.registry = registry;
        this.guard = guard;
        RejectionReason[] reasons = RejectionReason.values();
        Criticality[] criticalities = Criticality.values();
        this.rejections = new Counter[reasons.length][criticalities.length];
        for (RejectionReason reason : reasons) {
            for (Criticality criticality : criticalities) {
                rejections[reason.ordinal()][criticality.ordinal()] = counter(
                        "headroom.resilience.rejections",
                        "reason",
                        reason.name().toLowerCase(Locale.ROOT),
                        "criticality",
                        criticality.name().toLowerCase(Locale.ROOT));
            }
        }
        this.retriesMade = counter("headroom.resilience.retries", "outcome", "made");
        this.retriesBudgetExhausted = counter("headroom.resilience.retries", "outcome", "budget_exhausted");
        this.retriesDeadline = counter("headroom.resilience.retries", "outcome", "deadline");
        this.timeouts = counter("headroom.resilience.timeouts");
    }

    private Counter counter(String name, String... tags) {
        Counter c = Counter.builder(name).tag("guard", guard).tags(tags).register(registry);
        meters.add(c);
        return c;
    }

    /** Counts a call refused before reaching the dependency. */
    public void rejected(RejectionReason reason, Criticality criticality) {
        rejections[reason.ordinal()][criticality.ordinal()].increment();
    }

    /** Counts a retry made. */
    public void retried() {
        retriesMade.increment();
    }

    /** Counts a retry the budget refused. */
    public void retryRefusedByBudget() {
        retriesBudgetExhausted.increment();
    }

    /** Counts a retry the deadline left no time for. */
    public void retryStoppedByDeadline() {
        retriesDeadline.increment();
    }

    /** Counts a call that ran out of time. */
    public void timedOut() {
        timeouts.increment();
    }

    /** Registers a gauge tagged with the guard. */
    public void gauge(String name, Supplier<Number> value) {
        meters.add(Gauge.builder(name, value).tag("guard", guard).register(registry));
    }

    @Override
    public void close() {
        for (Meter m : meters) {
            registry.remove(m);
        }
    }
}
