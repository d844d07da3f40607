/**
 * The small vocabulary every Headroom module shares.
 *
 * <ul>
 *   <li>{@link dev.headroom.core.Ticker} — the one source of time, so every time-based behaviour can
 *       be tested with a fake clock;
 *   <li>{@link dev.headroom.core.Backoff} — capped exponential delays with full or decorrelated
 *       jitter;
 *   <li>{@link dev.headroom.core.RequestContext} — deadline, criticality, shard key and consistency
 *       token carried across a request in a scope, the hook framework integrators use;
 *   <li>{@link dev.headroom.core.Codec} — values to bytes and back.
 * </ul>
 *
 * <h2>Metric naming conventions</h2>
 *
 * <p>Every Headroom component publishes its metrics through an optional, injected Micrometer {@code
 * MeterRegistry}. The rules, which every module follows:
 *
 * <ul>
 *   <li><b>Names</b> are {@code headroom.<module>.<thing>}, lower case, dot separated, in Micrometer's
 *       canonical form (the registry renders them per backend, e.g. {@code headroom_cache_gets_total}
 *       in Prometheus). {@code <module>} is one of {@code cache}, {@code db}, {@code shard}, {@code
 *       ratelimit}, {@code queue}, {@code resilience}. Examples: {@code headroom.cache.gets}, {@code
 *       headroom.db.replica.lag}, {@code headroom.queue.jobs.claimed}.
 *   <li><b>Units</b> go in the base unit Micrometer expects: timers for durations (never a gauge of
 *       milliseconds), {@code .bytes} suffix plus {@code BaseUnits.BYTES} for sizes.
 *   <li><b>Tags</b> are low cardinality and bounded by configuration, never by traffic: the
 *       component's {@code name} (given on its builder), a {@code tier}, a {@code result} from a
 *       small fixed set ({@code hit}, {@code miss}, {@code error}...), a replica or shard name. A
 *       user key, a tenant id, a URL path or an exception message is <em>never</em> a tag value.
 *   <li><b>Results</b> are one counter with a {@code result} tag, not one counter per outcome, so
 *       ratios are a single query.
 *   <li><b>No registry, no cost:</b> components given no registry record nothing and allocate
 *       nothing for metrics on their hot path.
 * </ul>
 *
 * <h2>Logging</h2>
 *
 * <p>Headroom logs through the SLF4J API only and forces no logging backend. It warns once per state
 * change (Redis down, replica ejected, breaker open) and never once per request.
 *
 * <h2>Nullness</h2>
 *
 * <p>Every Headroom package is {@link org.jspecify.annotations.NullMarked}: parameters and return
 * values are non-null unless annotated {@link org.jspecify.annotations.Nullable}; a null where none
 * is allowed fails at the call with a {@link java.lang.NullPointerException} naming the parameter.
 */
@NullMarked
package dev.headroom.core;

import org.jspecify.annotations.NullMarked;
