package dev.headroom.cache.internal;

import dev.headroom.cache.RemoteValue;
import dev.headroom.core.Ticker;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;

/**
 * When a cache must not serve what L2 holds: a key whose invalidation this instance could not make
 * (pending repair), a key another instance announced it could not invalidate (until that
 * instance's repair arrives, or {@code l2Ttl}), every key after another instance's failed clear
 * (until a later flush, or {@code l2Ttl}), and everything while a flush for possibly lost messages
 * is under way (then L1 is not served either). Such reads go to the loader.
 */
public final class L2Trust {

    /** Until when a key's L2 value is not served, and how many failed invalidations await their repair. */
    private record Suspect(long until, int unrepaired) {}

    private final Ticker ticker;
    private final long l2TtlNanos;
    private final int maxKeys;
    private final @Nullable L2Repairs repairs;
    private final ConcurrentHashMap<String, Suspect> suspects = new ConcurrentHashMap<>();
    private final AtomicInteger flushesPending = new AtomicInteger();
    /** Ticker time until which no L2 value is served (0: none). */
    private volatile long allUntil;
    /** A flush's clear check got no answer: L2 values are not served until one does. */
    private volatile boolean generationUnknown;

    /**
     * @param repairs this instance's own pending invalidations (null without L2)
     * @param maxKeys beyond this many marked keys, further marks are not kept
     */
    public L2Trust(Ticker ticker, long l2TtlNanos, int maxKeys, @Nullable L2Repairs repairs) {
        this.ticker = ticker;
        this.l2TtlNanos = l2TtlNanos;
        this.maxKeys = maxKeys;
        this.repairs = repairs;
    }

    /** Whether the key's L2 value may be older than an invalidation or clear this instance knows of. */
    public boolean suspect(String remoteKey) {
        if ((repairs != null && repairs.isPending(remoteKey)) || flushesPending.get() != 0 || generationUnknown) {
            return true;
        }
        long all = allUntil;
        if (all != 0 && ticker.read() - all < 0) {
            return true;
        }
        if (suspects.isEmpty()) {
            return false;
        }
        Suspect suspect = suspects.get(remoteKey);
        return suspect != null && ticker.read() - suspect.until() < 0;
    }

    /**
     * A read with its value dropped if the value is not to be served: version kept, so the key is
     * loaded and written back fenced on that version.
     */
    public @Nullable RemoteValue withoutSuspectValue(String remoteKey, @Nullable RemoteValue read) {
        if (read == null || read.value() == null || !suspect(remoteKey)) {
            return read;
        }
        return new RemoteValue(null, read.version(), read.generation());
    }

    /**
     * Another instance could not invalidate the key in L2. No other message ends the mark: it may be
     * late, and the failed write may still land under it. Only the originator's repair does, or l2Ttl.
     */
    public void keyNotTaken(String remoteKey) {
        if (suspects.size() < maxKeys) {
            long until = ticker.read() + l2TtlNanos;
            suspects.merge(remoteKey, new Suspect(until, 1), (old, one) -> new Suspect(until, old.unrepaired() + 1));
        }
    }

    /**
     * The originator's repair reached L2, after anything it had sent before on that connection:
     * nothing of its failed write can land later.
     */
    public void keyRepaired(String remoteKey) {
        if (!suspects.isEmpty()) {
            suspects.computeIfPresent(
                    remoteKey,
                    (k, old) -> old.unrepaired() <= 1 ? null : new Suspect(old.until(), old.unrepaired() - 1));
        }
    }

    /** Another instance's clear was not taken by L2: no L2 value is served until {@link #cleared()}. */
    public void clearNotTaken() {
        long until = ticker.read() + l2TtlNanos;
        allUntil = until == 0 ? 1 : until;
    }

    /** A clear that L2 took (this instance's, or another's announced by a flush). */
    public void cleared() {
        allUntil = 0;
    }

    /** A flush's clear check failed: no L2 value is served until {@link #generationKnown()}. */
    public void generationUnknown() {
        generationUnknown = true;
    }

    /** A clear check answered: the store knows the latest clear. */
    public void generationKnown() {
        generationUnknown = false;
    }

    /** A flush for possibly lost messages has begun: nothing of L1 or L2 is served until it is done. */
    public void flushStarted() {
        flushesPending.incrementAndGet();
    }

    /** Called after the flush: served again. */
    public void flushDone() {
        flushesPending.decrementAndGet();
    }

    /** Whether a flush is under way (read on every L1 hit: one volatile read). */
    public boolean flushUnderWay() {
        return flushesPending.get() != 0;
    }

    /** Forgets expired marks; called by the cache's sweep. */
    public void sweep(long now) {
        suspects.values().removeIf(suspect -> now - suspect.until() >= 0);
    }
}
