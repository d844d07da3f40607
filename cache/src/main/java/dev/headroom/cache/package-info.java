/**
 * A multi-tier cache: a Caffeine L1 in every process over an optional shared L2 ({@link
 * dev.headroom.cache.RemoteStore}, Redis through Lettuce in {@link dev.headroom.cache.redis.RedisRemoteStore}).
 *
 * <p>Entry point: {@link dev.headroom.cache.TieredCache#builder(String)}. What the cache promises:
 *
 * <ul>
 *   <li>at most one load per key per process at a time (concurrent misses share it);
 *   <li>stale-while-revalidate within a grace window, with one background refresh per key;
 *   <li>L2 writes fenced by a per-key version, so a load that started before an invalidation never
 *       installs its older value in L2;
 *   <li>an L2 that is slow, down or returns corrupt bytes never fails a read: each call is bounded by
 *       a timeout, a circuit breaker stops calling a dead L2, and the loader serves instead.
 * </ul>
 *
 * <p>Metrics ({@code headroom.cache.*}, tagged with the cache's name) are listed on {@link
 * dev.headroom.cache.TieredCache}.
 */
@NullMarked
package dev.headroom.cache;

import org.jspecify.annotations.NullMarked;
