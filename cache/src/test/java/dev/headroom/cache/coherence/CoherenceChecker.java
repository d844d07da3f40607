package dev.headroom.cache.coherence;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Runs the seeded coherence checker once (own Redis, run, check) and prints its report: seed,
 * duration, operations, faults, reads checked, violations with the first 20 in detail, and their
 * classes. {@link CoherenceCheckerIT} runs fixed seeds; {@code scripts/coherence-check} long ones.
 */
final class CoherenceChecker {

    /** What a run found. */
    record Outcome(long seed, int violations, Map<String, Integer> byKind, List<String> unexpected, String report) {}

    private CoherenceChecker() {}

    static Outcome run(Settings settings) throws InterruptedException {
        long started = System.nanoTime();
        CoherenceRun run = new CoherenceRun(settings);
        try (OwnedRedis redis = OwnedRedis.start("3mb")) {
            run.run(redis);
        }
        CoherenceCheck check = new CoherenceCheck(settings, run.history).check();
        String report = report(settings, run, check, Duration.ofNanos(System.nanoTime() - started));
        System.out.println(report);
        List<String> unexpected;
        synchronized (run.unexpected) {
            unexpected = new ArrayList<>(run.unexpected);
        }
        Map<String, Integer> byKind = new java.util.TreeMap<>();
        check.violations.forEach(v -> byKind.merge(v.kind(), 1, Integer::sum));
        return new Outcome(settings.seed(), check.violations.size(), byKind, unexpected, report);
    }

    static String report(Settings s, CoherenceRun run, CoherenceCheck check, Duration took) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(
                "%n=== coherence checker: seed %d, %d s of operations (%.1f s in all), %d instances, %d threads,"
                        + " %d keys, ttl %d ms + grace %d ms, l2Ttl %d ms, faults %s, racing writes %s%n",
                s.seed(),
                s.duration().toSeconds(),
                took.toMillis() / 1000.0,
                s.instances(),
                s.threads(),
                s.keys(),
                s.ttl().toMillis(),
                s.grace().toMillis(),
                s.l2Ttl().toMillis(),
                s.faults().isEmpty() ? "none" : String.join(",", s.faults()),
                s.racingWrites()));
        out.append("replay: -Dcoherence.seed=")
                .append(s.seed())
                .append(" -Dcoherence.seconds=")
                .append(s.duration().toSeconds())
                .append(" -Dcoherence.faults=")
                .append(s.faults().isEmpty() ? "none" : String.join(",", s.faults()))
                .append(" (the operations repeat; the interleavings do not)\n");
        out.append("counts:");
        run.counts.forEach((k, v) -> out.append(' ').append(k).append('=').append(v.sum()));
        out.append(String.format(
                "%nloads: %d; bus deliveries: %d; reads checked: %d; reads failed (CacheLoadException, allowed): %d;"
                        + " excused as racing puts: %d%n",
                run.history.loads.size(),
                run.history.deliveries.size(),
                check.readsChecked,
                check.readsFailed,
                check.excusedByRacingPut));
        out.append("VIOLATIONS: ").append(check.violations.size()).append('\n');
        int shown = 0;
        for (CoherenceCheck.Violation v : check.violations) {
            if (shown++ == 20) {
                break;
            }
            out.append("  [").append(v.kind()).append("] ");
            out.append(
                    v.write() == null
                            ? String.format(
                                    "read of %s on i%d at %s returned v%d (%s); %s",
                                    v.read().key(),
                                    v.read().instance(),
                                    CoherenceCheck.t(v.read().start()),
                                    v.read().version(),
                                    v.read().origin(),
                                    v.detail())
                            : v.detail());
            out.append('\n');
        }
        out.append("violations by class:\n");
        for (Map.Entry<String, Integer> e : check.classes().entrySet()) {
            out.append(String.format("  %6d  %s%n", e.getValue(), e.getKey()));
        }
        out.append("not asserted (no bound promised today), by class:\n");
        for (Map.Entry<String, Integer> e : check.notes.entrySet()) {
            out.append(String.format("  %6d  %s%n", e.getValue(), e.getKey()));
        }
        for (CoherenceCheck.Violation v : check.noteSamples.subList(0, Math.min(5, check.noteSamples.size()))) {
            out.append("  e.g. ").append(v.detail()).append('\n');
        }
        synchronized (run.unexpected) {
            out.append("unexpected: ").append(run.unexpected.size()).append('\n');
            run.unexpected.stream()
                    .limit(20)
                    .forEach(u -> out.append("  ").append(u).append('\n'));
        }
        return out.toString();
    }
}
