/**
 * Read/write routing for JDBC: {@link dev.headroom.db.RoutingDataSource} sends writes and
 * transactions to the primary and reads to a replica that is healthy, within its lag bound and,
 * for read-your-writes, has replayed the reader's {@link dev.headroom.core.ConsistencyToken}.
 *
 * <p>Metrics ({@code headroom.db.*}, tag {@code router} = the router's name): {@code connections}
 * (tags {@code target} = primary|replica, {@code replica}), {@code fallbacks} (tag {@code reason} = no_replica|replica_failed: none serving, or the ones tried failed),
 * {@code replica.lag.bytes} and {@code replica.lag} (seconds) and {@code replica.serving} gauges per
 * replica, {@code replica.ejections} (tag {@code reason} = lag|unreachable|not_replica) and
 * {@code replica.readmissions}, {@code replica.kept} (lag-ejected replicas kept serving by the
 * {@code minServingReplicas} guard), {@code token.reads} (tag {@code result} =
 * cached|checked|waited|fallback).
 */
@NullMarked
package dev.headroom.db;

import org.jspecify.annotations.NullMarked;
