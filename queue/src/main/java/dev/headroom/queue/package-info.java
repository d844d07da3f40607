/**
 * Idempotent job queue with leases, retries, dead-lettering and replay.
 *
 * <p>Not yet implemented: this module is in the build so that every artifact exists from the start;
 * its API arrives with its own issue (see DESIGN.md).
 */
@NullMarked
package dev.headroom.queue;

import org.jspecify.annotations.NullMarked;
