package dev.headroom.db.ryw;

import java.time.Duration;

/**
 * A run: its seed, and either a number of writes ({@code seconds} 0) or a duration. The seed fixes
 * each thread's choices (keys, routers, readers, think-times) and the fault schedule; the
 * interleaving of threads and processes is not repeatable.
 */
record Settings(long seed, int writes, Duration duration) {

    static final int KEYS = 64;

    static Settings fromProperties(long fixedSeed, int fixedWrites) {
        long seconds = Long.getLong("ryw.seconds", 0);
        return new Settings(Long.getLong("ryw.seed", fixedSeed), fixedWrites, Duration.ofSeconds(seconds));
    }

    boolean timed() {
        return !duration.isZero();
    }

    /** Whether a writer may start another write, {@code started} writes having been claimed. */
    boolean more(long started, long beginNanos) {
        return timed() ? System.nanoTime() - beginNanos < duration.toNanos() : started < writes;
    }

    /**
     * Whether a replica restart is due, {@code restarts} done and {@code committed} writes committed:
     * one half-way through a run of a number of writes; in a timed run one at half-time when it is
     * under a minute, else one every 30 s.
     */
    boolean restartDue(int restarts, long committed, long beginNanos) {
        if (!timed()) {
            return restarts == 0 && committed >= writes / 2;
        }
        long every = duration.compareTo(Duration.ofMinutes(1)) < 0
                ? duration.toNanos() / 2
                : Duration.ofSeconds(30).toNanos();
        return System.nanoTime() - beginNanos >= (restarts + 1) * every
                && System.nanoTime() - beginNanos < duration.toNanos();
    }
}
