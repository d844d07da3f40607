package dev.headroom.db.ryw;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a read-your-writes run did and what the check over its history found: the property is that
 * no read made with a token sees a version older than the one handed with that token.
 */
record Outcome(
        String variant,
        long seed,
        long writes,
        long reads,
        long onReplica,
        long onPrimary,
        long failed,
        long violations,
        List<ReadRecord> firstViolations,
        Map<String, Long> faults,
        Map<String, Long> tokenReads,
        long millis) {

    static Outcome check(
            String variant,
            long seed,
            long writes,
            Collection<ReadRecord> history,
            Map<String, Long> faults,
            Map<String, Long> tokenReads,
            long millis) {
        long replica = 0;
        long primary = 0;
        long failed = 0;
        long violations = 0;
        List<ReadRecord> first = new ArrayList<>();
        for (ReadRecord r : history) {
            if (r.failed()) {
                failed++;
                continue;
            }
            if (r.onReplica()) {
                replica++;
            } else {
                primary++;
            }
            if (r.stale()) {
                violations++;
                if (first.size() < 10) {
                    first.add(r);
                }
            }
        }
        return new Outcome(
                variant,
                seed,
                writes,
                replica + primary,
                replica,
                primary,
                failed,
                violations,
                List.copyOf(first),
                new TreeMap<>(faults),
                new TreeMap<>(tokenReads),
                millis);
    }

    String report() {
        StringBuilder b = new StringBuilder();
        b.append("\n=== read-your-writes checker (").append(variant).append(") ===\n");
        b.append("seed ")
                .append(seed)
                .append(" (rerun: -Dryw.seed=")
                .append(seed)
                .append(")\n");
        b.append("writes ").append(writes).append(", reads ").append(reads);
        b.append(" (replica ").append(onReplica).append(", primary ").append(onPrimary);
        b.append("), failed reads ").append(failed).append('\n');
        b.append("faults ").append(faults).append('\n');
        b.append("token reads ").append(tokenReads).append('\n');
        b.append("violations (stale reads) ").append(violations).append('\n');
        for (ReadRecord r : firstViolations) {
            b.append("  stale: ").append(r).append('\n');
        }
        b.append("run ").append(millis).append(" ms\n");
        return b.toString();
    }
}
