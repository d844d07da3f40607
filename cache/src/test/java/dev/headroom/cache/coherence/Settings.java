package dev.headroom.cache.coherence;

import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * One checker run's parameters. System properties override the defaults: {@code coherence.seed},
 * {@code coherence.seconds}, {@code coherence.faults} (comma-separated subset of {@code
 * restart,pubsub,slow,pressure,partition}, or {@code none}; partition cuts one instance's store connection, not its bus), {@code coherence.racingWrites} (false: writes of
 * one key take turns), {@code coherence.instances}, {@code coherence.threads}, {@code
 * coherence.keys}. The separate-process variant ({@link CoherenceProcesses}) reads {@code
 * coherence.processCount} (worker processes at a time, 3) and {@code coherence.processThreads}
 * (operation threads per worker, 3) and takes {@code threads} per worker.
 *
 * @param sabotage breaks the harness on purpose (see {@link #withSabotage}); empty in real runs
 *
 * @param deliveryBound how long after a write returned a read on another instance that has not
 *     heard of it is reported (informational: nothing bounds delivery today)
 */
record Settings(
        long seed,
        Duration duration,
        int instances,
        int threads,
        int keys,
        Duration ttl,
        Duration grace,
        Duration l2Ttl,
        Duration l2Timeout,
        Duration loadTimeout,
        Set<String> faults,
        boolean racingWrites,
        Duration deliveryBound,
        Set<String> sabotage) {

    static final Set<String> ALL_FAULTS = Set.of("restart", "pubsub", "slow", "pressure", "partition");

    static Settings of(long seed, Duration duration) {
        return new Settings(
                seed,
                duration,
                Integer.getInteger("coherence.instances", 4),
                Integer.getInteger("coherence.threads", 6),
                Integer.getInteger("coherence.keys", 30),
                Duration.ofMillis(400),
                Duration.ofMillis(200),
                Duration.ofMillis(1500),
                Duration.ofMillis(200),
                Duration.ofSeconds(2),
                faults(System.getProperty("coherence.faults", String.join(",", ALL_FAULTS))),
                Boolean.parseBoolean(System.getProperty("coherence.racingWrites", "true")),
                Duration.ofMillis(150),
                Set.of());
    }

    /** The same run with other faults. */
    Settings withFaults(String spec) {
        return new Settings(
                seed,
                duration,
                instances,
                threads,
                keys,
                ttl,
                grace,
                l2Ttl,
                l2Timeout,
                loadTimeout,
                faults(spec),
                racingWrites,
                deliveryBound,
                sabotage);
    }

    /**
     * The same run at another scale: {@code instances} cache instances (in the separate-process
     * variant's check: every worker ever started), {@code threads} operation threads (there: per worker).
     */
    Settings withScale(int instances, int threads) {
        return new Settings(
                seed,
                duration,
                instances,
                threads,
                keys,
                ttl,
                grace,
                l2Ttl,
                l2Timeout,
                loadTimeout,
                faults,
                racingWrites,
                deliveryBound,
                sabotage);
    }

    /**
     * The same run with the checker's own harness broken on purpose, to show it sees what it must:
     * {@code deaf-bus} (bus messages for keys recorded as delivered but not passed to the cache),
     * {@code silent-invalidates} (an invalidation recorded as made and taken by L2, never made).
     */
    Settings withSabotage(String... kinds) {
        return new Settings(
                seed,
                duration,
                instances,
                threads,
                keys,
                ttl,
                grace,
                l2Ttl,
                l2Timeout,
                loadTimeout,
                faults,
                racingWrites,
                deliveryBound,
                Set.of(kinds));
    }

    static Set<String> faults(String spec) {
        Set<String> chosen = new TreeSet<>();
        for (String f : spec.split(",")) {
            String name = f.trim();
            if (name.isEmpty() || name.equals("none")) {
                continue;
            }
            if (name.equals("all")) {
                chosen.addAll(ALL_FAULTS);
            } else if (ALL_FAULTS.contains(name)) {
                chosen.add(name);
            } else {
                throw new IllegalArgumentException("coherence.faults: unknown fault '" + name + "', expected some of "
                        + Arrays.toString(ALL_FAULTS.toArray()) + " or none");
            }
        }
        return chosen;
    }

    boolean fault(String name) {
        return faults.contains(name);
    }
}
