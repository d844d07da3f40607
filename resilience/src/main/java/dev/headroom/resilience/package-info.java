/**
 * Bulkheads, timeouts, retries with budgets, adaptive concurrency limits and load shedding.
 *
 * <p>Not yet implemented: this module is in the build so that every artifact exists from the start;
 * its API arrives with its own issue (see DESIGN.md).
 */
@NullMarked
package dev.headroom.resilience;

import org.jspecify.annotations.NullMarked;
