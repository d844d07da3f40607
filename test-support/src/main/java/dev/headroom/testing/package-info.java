/**
 * Real services for Headroom's tests: a PostgreSQL primary, a streaming replica of it, and Redis.
 *
 * <p>Add {@code @ExtendWith(HeadroomServices.class)} to a test class and declare a parameter of type
 * {@link dev.headroom.testing.TestDatabase}, {@link dev.headroom.testing.TestReplica} or {@link
 * dev.headroom.testing.TestRedis}. Each test gets isolated state — its own schema, its own Redis key
 * prefix — removed after it, so tests can run repeatedly and in parallel.
 *
 * <p>Services are found in this order: environment variables ({@code HEADROOM_PG_URL}, {@code
 * HEADROOM_PG_REPLICA_URL}, {@code HEADROOM_REDIS_URL}); the local default ports (PostgreSQL
 * 127.0.0.1:5432, replica 127.0.0.1:5433, Redis 127.0.0.1:6379); Testcontainers when a Docker engine
 * is present. When none answers, the test fails with a {@link
 * dev.headroom.testing.ServiceUnavailableException} whose message names the service and the command
 * that starts it. A test is never silently skipped.
 */
@NullMarked
package dev.headroom.testing;

import org.jspecify.annotations.NullMarked;
