package dev.headroom.cache.coherence;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs the seeded coherence checker once (own Redis, run, check) and prints its report: seed,
 * duration, operations, faults, reads checked, violations with the first 20 in detail, and their
 * classes. {@link CoherenceCheckerIT} runs fixed seeds; {@code scripts/coherence-check} long ones.
 */
final class CoherenceChecker {

    /** What a run found. */
    record Outcome(
            long seed,
            int violations,
            Map<String, Integer> byKind,
            List<String> unexpected,
            long readsChecked,
            Map<String, Long> counts,
            String report) {}

    private CoherenceChecker() {}

    static Outcome run(Settings settings) throws InterruptedException {
        long started = System.nanoTime();
        CoherenceRun run = new CoherenceRun(settings);
        try (OwnedRedis redis = OwnedRedis.start("3mb")) {
            run.run(redis);
        }
        CoherenceCheck check = new CoherenceCheck(settings, run.history).check();
        String header = String.format(
                "%n=== coherence checker: seed %d, %d s of operations (%.1f s in all), %d instances, %d threads,"
                        + " %d keys, ttl %d ms + grace %d ms, l2Ttl %d ms, faults %s, racing writes %s%n",
                settings.seed(),
                settings.duration().toSeconds(),
                (System.nanoTime() - started) / 1e9,
                settings.instances(),
                settings.threads(),
                settings.keys(),
                settings.ttl().toMillis(),
                settings.grace().toMillis(),
                settings.l2Ttl().toMillis(),
                faultNames(settings),
                settings.racingWrites());
        return outcome(settings, header, run.history, run.tally, check);
    }

    static String faultNames(Settings s) {
        return s.faults().isEmpty() ? "none" : String.join(",", s.faults());
    }

    /** Prints the report (after {@code header}, the run's first line) and sums the run up. */
    static Outcome outcome(Settings s, String header, History history, Tally tally, CoherenceCheck check) {
        for (History.WriteBegun w : check.unfinishedWrites) {
            tally.unexpected(String.format(
                    "write #%d of %s on i%d began at %s and never ended, and i%d was not killed",
                    w.id(), w.key(), w.instance(), CoherenceCheck.t(w.start()), w.instance()));
        }
        String report = header + report(s, history, tally, check);
        System.out.println(report);
        Map<String, Integer> byKind = new TreeMap<>();
        check.violations.forEach(v -> byKind.merge(v.kind(), 1, Integer::sum));
        Map<String, Long> counts = new TreeMap<>();
        tally.counts.forEach((k, v) -> counts.put(k, v.sum()));
        return new Outcome(
                s.seed(), check.violations.size(), byKind, tally.unexpected(), check.readsChecked, counts, report);
    }

    private static String report(Settings s, History history, Tally tally, CoherenceCheck check) {
        StringBuilder out = new StringBuilder();
        out.append("replay: -Dcoherence.seed=")
                .append(s.seed())
                .append(" -Dcoherence.seconds=")
                .append(s.duration().toSeconds())
                .append(" -Dcoherence.faults=")
                .append(faultNames(s))
                .append(" (the operations repeat; the interleavings do not)\n");
        out.append("counts:");
        tally.counts.forEach((k, v) -> out.append(' ').append(k).append('=').append(v.sum()));
        out.append(String.format(
                "%nloads: %d; bus deliveries: %d; reads checked: %d; reads failed (CacheLoadException, allowed): %d;"
                        + " excused as racing puts: %d%n",
                history.loads.size(),
                history.deliveries.size(),
                check.readsChecked,
                check.readsFailed,
                check.excusedByRacingPut));
        if (!history.killed.isEmpty()) {
            out.append(String.format(
                    "killed (SIGKILL): %s; their writes cut short: %d; reads excused as a killed process's put: %d%n",
                    new java.util.TreeSet<>(history.killed), check.writesCutShortByKill, check.excusedByKilledPut));
        }
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
        List<String> unexpected = tally.unexpected();
        out.append("unexpected: ").append(unexpected.size()).append('\n');
        unexpected.stream().limit(20).forEach(u -> out.append("  ").append(u).append('\n'));
        return out.toString();
    }
}
