/**
 * Redis, through Lettuce, as the cache's second tier ({@link dev.headroom.cache.redis.RedisRemoteStore})
 * and invalidation bus ({@link dev.headroom.cache.redis.RedisInvalidationBus}). The only package of the
 * module with Lettuce types in its API.
 */
@NullMarked
package dev.headroom.cache.redis;

import org.jspecify.annotations.NullMarked;
