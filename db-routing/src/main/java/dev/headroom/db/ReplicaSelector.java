package dev.headroom.db;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Chooses the replica for one read among those serving. Called on every routed read, so
 * implementations must be fast, thread-safe and non-blocking.
 */
@FunctionalInterface
public interface ReplicaSelector {

    /**
     * Chooses the replica that serves one read. Called on every routed read: keep it cheap.
     *
     * @param serving the replicas that may serve this read; never empty; do not modify
     * @return one element of {@code serving}
     */
    ReplicaInfo select(List<? extends ReplicaInfo> serving);

    /** Each replica in turn. The default. */
    static ReplicaSelector roundRobin() {
        AtomicInteger next = new AtomicInteger();
        return serving -> serving.get(Math.floorMod(next.getAndIncrement(), serving.size()));
    }

    /** The replica with the least byte lag at the last probe (ties: the first). */
    static ReplicaSelector leastLag() {
        return serving -> {
            ReplicaInfo best = serving.get(0);
            for (int i = 1; i < serving.size(); i++) {
                if (serving.get(i).lagBytes() < best.lagBytes()) {
                    best = serving.get(i);
                }
            }
            return best;
        };
    }

    /**
     * Power of two choices: two replicas at random, the one with fewer connections in flight. Spreads
     * load nearly as well as least-loaded without every reader herding onto the same replica.
     */
    static ReplicaSelector powerOfTwoChoices() {
        return serving -> {
            int n = serving.size();
            if (n == 1) {
                return serving.get(0);
            }
            ThreadLocalRandom r = ThreadLocalRandom.current();
            int a = r.nextInt(n);
            int b = r.nextInt(n - 1);
            if (b >= a) {
                b++;
            }
            ReplicaInfo x = serving.get(a);
            ReplicaInfo y = serving.get(b);
            return y.inFlight() < x.inFlight() ? y : x;
        };
    }
}
