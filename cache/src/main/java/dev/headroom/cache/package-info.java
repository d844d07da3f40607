/**
 * Multi-tier cache: Caffeine L1 over a Redis L2, with request coalescing, stale-while-revalidate and cross-instance invalidation.
 *
 * <p>Not yet implemented: this module is in the build so that every artifact exists from the start;
 * its API arrives with its own issue (see DESIGN.md).
 */
@NullMarked
package dev.headroom.cache;

import org.jspecify.annotations.NullMarked;
