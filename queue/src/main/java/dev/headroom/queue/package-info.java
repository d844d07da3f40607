/**
 * Idempotent job queue with leases, retries, dead-lettering and replay.
 *
 * <p>{@link dev.headroom.queue.JobQueue} is the façade: it validates input, applies the retry policy
 * ({@link dev.headroom.core.Backoff}) and reports metrics. A {@link dev.headroom.queue.JobStore}
 * holds the jobs and enforces every guarantee that must hold across processes (idempotency keys,
 * leases, fencing); {@link dev.headroom.queue.InMemoryJobStore} is the in-process store for tests
 * and {@code dev.headroom.queue.postgres.PostgresJobStore} the PostgreSQL one.
 */
@NullMarked
package dev.headroom.queue;

import org.jspecify.annotations.NullMarked;
