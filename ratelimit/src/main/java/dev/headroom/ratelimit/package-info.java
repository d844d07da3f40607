/**
 * Token-bucket rate limiters, local and distributed, with IETF RateLimit headers.
 *
 * <p>Not yet implemented: this module is in the build so that every artifact exists from the start;
 * its API arrives with its own issue (see DESIGN.md).
 */
@NullMarked
package dev.headroom.ratelimit;

import org.jspecify.annotations.NullMarked;
