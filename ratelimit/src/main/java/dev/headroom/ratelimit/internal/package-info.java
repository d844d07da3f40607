/** Implementation detail of the rate limiters; not API. */
@NullMarked
package dev.headroom.ratelimit.internal;

import org.jspecify.annotations.NullMarked;
