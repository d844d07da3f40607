package dev.headroom.core;

/**
 * How much a unit of work matters when the system is overloaded. Load shedders drop {@link
 * #SHEDDABLE} work first and {@link #CRITICAL} work last; routers may pin {@code CRITICAL} reads to
 * the primary.
 */
public enum Criticality {
    /** Must be served if at all possible: checkout, login, writes a user is waiting on. */
    CRITICAL,
    /** Ordinary user-facing work. The default when nothing else is said. */
    DEFAULT,
    /** Work that can be dropped first under load: prefetches, recommendations, retries, batch. */
    SHEDDABLE
}
