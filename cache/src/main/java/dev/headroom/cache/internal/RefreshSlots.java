package dev.headroom.cache.internal;

import dev.headroom.core.Ticker;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * When a cache refreshes a key in the background: at most one refresh per key at a time, none for
 * {@code refreshRetryDelay} after one failed, and early (XFetch) with a probability that rises as
 * expiry nears and with the cost of the last load.
 *
 * @param <K> the key type
 */
public final class RefreshSlots<K> {

    private static final long IN_FLIGHT = Long.MIN_VALUE;

    private final Ticker ticker;
    private final long retryNanos;
    private final double xfetchBeta;
    private final @Nullable RandomGenerator random;
    /** Per key: {@link #IN_FLIGHT}, or the ticker time before which a failed refresh is not retried. */
    private final ConcurrentHashMap<K, Long> slots = new ConcurrentHashMap<>();

    public RefreshSlots(Ticker ticker, long retryNanos, double xfetchBeta, @Nullable RandomGenerator random) {
        this.ticker = ticker;
        this.retryNanos = retryNanos;
        this.xfetchBeta = xfetchBeta;
        this.random = random;
    }

    /** Takes the key's refresh slot: none in flight, and no failed one still pausing retries. */
    public boolean claim(K key) {
        Long state = slots.putIfAbsent(key, IN_FLIGHT);
        if (state == null) {
            return true;
        }
        if (state == IN_FLIGHT || ticker.read() - state < 0) {
            return false;
        }
        return slots.replace(key, state, IN_FLIGHT);
    }

    /** The refresh succeeded, or did not start after all: the slot is free. */
    public void release(K key) {
        slots.remove(key);
    }

    /** The refresh failed: no other until the retry delay has passed. */
    public void failed(K key) {
        slots.put(key, ticker.read() + retryNanos);
    }

    /**
     * XFetch: refresh when {@code now - delta * beta * ln(U) >= expiry}. The random draw is made only
     * inside the window where it can succeed with non-negligible probability (−ln U ≤ 20).
     */
    public boolean early(CacheEntry<?> entry, long now) {
        if (xfetchBeta <= 0) {
            return false;
        }
        long delta = entry.loadNanos();
        if (delta <= 0) {
            return false;
        }
        double window = delta * xfetchBeta;
        long untilFresh = entry.freshUntil() - now;
        if (untilFresh > window * 20) {
            return false;
        }
        RandomGenerator r = random != null ? random : ThreadLocalRandom.current();
        double u = 1.0 - r.nextDouble(); // (0, 1]
        return -window * Math.log(u) >= untilFresh;
    }

    /** Forgets failed refreshes whose retry pause is over (a later read may try again anyway). */
    public void sweep(long now) {
        slots.entrySet().removeIf(e -> e.getValue() != IN_FLIGHT && now - e.getValue() >= 0);
    }
}
