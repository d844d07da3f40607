package dev.headroom.examples.shop;

import io.micrometer.core.instrument.Measurement;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.ValueAtPercentile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The live dashboard: {@code /dashboard} is one static page (plain HTML and JavaScript, no build
 * step) that polls {@code /dashboard/data}, a small JSON summary of the app's meters, and draws
 * each series over time. Thread-safe.
 */
final class Dashboard {

    private final MeterRegistry registry;
    private final String page;

    Dashboard(MeterRegistry registry) {
        this.registry = registry;
        try (InputStream in = Objects.requireNonNull(
                Dashboard.class.getResourceAsStream("/shop/dashboard.html"), "shop/dashboard.html on the classpath")) {
            this.page = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    String page() {
        return page;
    }

    /**
     * Cumulative counts and current gauges; the page turns counts into rates. Keys: {@code time}
     * (ms), {@code cacheGets} by {@code tier/result}, {@code catalogReads}, {@code connections} by
     * routing target, {@code replicaLagMs}, {@code queueDepth} by state, {@code deadLettered}, {@code
     * limiter} by result, {@code guardRejections} by {@code reason/criticality} (the
     * recommendation guard's refusals), {@code guardTimeouts}, {@code guardInFlight}, {@code
     * recommendations} by {@code source/reason}, {@code requests}, {@code p95Ms} and {@code p99Ms}
     * (the worst endpoint).
     */
    Map<String, Object> data() {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("time", System.currentTimeMillis());
        data.put("cacheGets", sumBy("headroom.cache.gets", "tier", "result"));
        data.put("catalogReads", total("shop.catalog.reads"));
        data.put("connections", sumBy("headroom.db.connections", "target"));
        double lagMs = 0;
        for (Meter m : registry.find("headroom.db.replica.lag").meters()) {
            if (m instanceof io.micrometer.core.instrument.TimeGauge g) {
                lagMs = Math.max(lagMs, g.value(TimeUnit.MILLISECONDS));
            }
        }
        data.put("replicaLagMs", lagMs);
        data.put("queueDepth", sumBy("headroom.queue.depth", "state"));
        data.put("deadLettered", total("headroom.queue.dead_lettered"));
        data.put("limiter", sumBy("headroom.ratelimit.decisions", "result"));
        data.put("guardRejections", nonZero(sumBy("headroom.resilience.rejections", "reason", "criticality")));
        data.put("guardTimeouts", total("headroom.resilience.timeouts"));
        data.put("guardInFlight", total("headroom.resilience.inflight"));
        data.put("recommendations", sumBy("shop.recommendations", "source", "reason"));
        long requests = 0;
        double p95 = 0;
        double p99 = 0;
        for (Timer t : registry.find("shop.http.requests").timers()) {
            requests += t.count();
            for (ValueAtPercentile v : t.takeSnapshot().percentileValues()) {
                if (v.percentile() == 0.95) {
                    p95 = Math.max(p95, v.value(TimeUnit.MILLISECONDS));
                } else if (v.percentile() == 0.99) {
                    p99 = Math.max(p99, v.value(TimeUnit.MILLISECONDS));
                }
            }
        }
        data.put("requests", requests);
        data.put("p95Ms", p95);
        data.put("p99Ms", p99);
        return data;
    }

    /** Drops the series that never counted (the guard registers every reason and criticality). */
    private static Map<String, Double> nonZero(Map<String, Double> sums) {
        sums.values().removeIf(v -> v == 0);
        return sums;
    }

    private double total(String name) {
        double sum = 0;
        for (Meter m : registry.find(name).meters()) {
            sum += first(m);
        }
        return sum;
    }

    private Map<String, Double> sumBy(String name, String... tags) {
        Map<String, Double> sums = new TreeMap<>();
        for (Meter m : registry.find(name).meters()) {
            StringBuilder key = new StringBuilder();
            for (String tag : tags) {
                String value = m.getId().getTag(tag);
                key.append(key.length() == 0 ? "" : "/").append(value == null ? "none" : value);
            }
            sums.merge(key.toString(), first(m), Double::sum);
        }
        return sums;
    }

    private static double first(Meter m) {
        for (Measurement measurement : m.measure()) {
            double v = measurement.getValue();
            return Double.isFinite(v) ? v : 0;
        }
        return 0;
    }
}
