package dev.headroom.db.ryw;

import dev.headroom.testing.OwnedReplica;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The faults of a run, on the test-owned replica, chosen by a seeded random: WAL replay paused and
 * resumed at random, and the replica restarted (a fast restart or a crash and start, by the seed)
 * whenever the run says one is due. Replay is always resumed at the end.
 */
final class ReplicaFaults {

    private final OwnedReplica replica;
    private final Random random;
    private final Map<String, Long> counts = new ConcurrentHashMap<>();
    private boolean paused;

    ReplicaFaults(OwnedReplica replica, long seed) {
        this.replica = replica;
        this.random = new Random(seed ^ 0x5DEECE66DL);
    }

    Map<String, Long> counts() {
        return Map.copyOf(counts);
    }

    /**
     * Runs faults until {@code done}; a restart each time {@code restartDue} says so (it is asked
     * between faults). The pause between faults is a seeded think-time of 20 to 300 ms.
     */
    void run(BooleanSupplier done, BooleanSupplier restartDue) throws InterruptedException, SQLException {
        try {
            while (!done.getAsBoolean()) {
                if (restartDue.getAsBoolean()) {
                    restart();
                    continue;
                }
                TimeUnit.MILLISECONDS.sleep(20 + random.nextInt(280)); // pacing, not synchronization
                if (paused) {
                    replay("resume");
                } else if (random.nextInt(3) > 0) {
                    replay("pause");
                }
            }
        } finally {
            if (paused) {
                replay("resume");
            }
        }
    }

    /** Pauses replay until {@link #resume()}: for the sabotage run, where the replica must lag throughout. */
    void pause() throws SQLException {
        replay("pause");
    }

    void resume() throws SQLException {
        if (paused) {
            replay("resume");
        }
    }

    private void restart() throws SQLException {
        if (paused) {
            replay("resume");
        }
        if (random.nextBoolean()) {
            replica.restart();
            counts.merge("restart", 1L, Long::sum);
        } else {
            replica.stopImmediately();
            replica.start();
            counts.merge("crash+start", 1L, Long::sum);
        }
    }

    private void replay(String what) throws SQLException {
        try (Connection c = replica.connect();
                Statement s = c.createStatement()) {
            s.execute("SELECT pg_wal_replay_" + what + "()");
        }
        paused = what.equals("pause");
        counts.merge("replay." + what, 1L, Long::sum);
    }
}
