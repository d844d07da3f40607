/**
 * Shard resolution: which shard a stable key (tenant, user id) lives on, and which keys move when
 * the topology changes.
 *
 * <p>Every strategy starts from {@link dev.headroom.shard.KeyHasher}'s 64-bit hash: XXH3-64 (seed 0)
 * of the key's bytes (long: 8 bytes little-endian; String: UTF-8; byte[]: as is; UUID: its 16
 * RFC 4122 bytes, most significant first). XXH3 has implementations in most languages, so another
 * service can compute the same shard; the checked-in golden vectors
 * ({@code src/test/resources/shard-golden-vectors.tsv}) pin every strategy's output.
 *
 * <p>Metrics ({@link dev.headroom.shard.ShardResolvers#metered}): {@code headroom.shard.lookups}
 * (tags {@code resolver}, {@code strategy}) and {@code headroom.shard.override.hits}.
 */
@NullMarked
package dev.headroom.shard;

import org.jspecify.annotations.NullMarked;
