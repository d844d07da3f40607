/**
 * Guards around dependencies: a {@link dev.headroom.resilience.Guard} composes concurrency limits
 * (fixed or adaptive) with criticality-aware shedding, request deadlines, timeouts, a Resilience4j
 * circuit breaker, retries under a shared budget and fallbacks.
 */
@NullMarked
package dev.headroom.resilience;

import org.jspecify.annotations.NullMarked;
