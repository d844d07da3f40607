/** The distributed rate limiter: token buckets in Redis, one script call per decision. */
@NullMarked
package dev.headroom.ratelimit.redis;

import org.jspecify.annotations.NullMarked;
