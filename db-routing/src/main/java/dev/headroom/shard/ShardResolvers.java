package dev.headroom.shard;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/** Wrappers around resolvers: a directory of overrides, and metrics. */
public final class ShardResolvers {
    private ShardResolvers() {}

    /**
     * Pins named keys (hot tenants) to shards; every other key goes to {@code fallback}.
     *
     * @param overrides key → shard; every shard must be one of {@code fallback.shards()}
     * @throws IllegalArgumentException if an override names an unknown shard
     */
    public static <K> ShardResolver<K> withOverrides(ShardResolver<K> fallback, Map<K, String> overrides) {
        return new Overriding<>(fallback, overrides);
    }

    /**
     * Counts lookups in {@code headroom.shard.lookups} (tags {@code resolver}, {@code strategy}) and,
     * for {@link #withOverrides} resolvers, override hits in {@code headroom.shard.override.hits}.
     */
    public static <K> ShardResolver<K> metered(ShardResolver<K> resolver, MeterRegistry registry, String name) {
        Objects.requireNonNull(resolver, "resolver");
        Objects.requireNonNull(registry, "registry");
        Objects.requireNonNull(name, "name");
        Counter lookups = Counter.builder("headroom.shard.lookups")
                .tags("resolver", name, "strategy", resolver.strategy())
                .register(registry);
        Counter hits = Counter.builder("headroom.shard.override.hits")
                .tag("resolver", name)
                .register(registry);
        return new ShardResolver<>() {
            @Override
            public String shardFor(K key) {
                lookups.increment();
                if (resolver instanceof Overriding<K> o) {
                    String pinned = o.overrides.get(Objects.requireNonNull(key, "key"));
                    if (pinned != null) {
                        hits.increment();
                        return pinned;
                    }
                    return o.fallback.shardFor(key);
                }
                return resolver.shardFor(key);
            }

            @Override
            public Set<String> shards() {
                return resolver.shards();
            }

            @Override
            public String strategy() {
                return resolver.strategy();
            }
        };
    }

    private static final class Overriding<K> implements ShardResolver<K> {
        final ShardResolver<K> fallback;
        final Map<K, String> overrides;

        Overriding(ShardResolver<K> fallback, Map<K, String> overrides) {
            this.fallback = Objects.requireNonNull(fallback, "fallback");
            this.overrides = Map.copyOf(Objects.requireNonNull(overrides, "overrides"));
            // The key is user data (a tenant id, an email): the message names the shard, not the key.
            this.overrides.forEach((k, shard) -> {
                if (!fallback.shards().contains(shard)) {
                    throw new IllegalArgumentException(
                            "overrides: a key of type " + k.getClass().getName() + " is pinned to unknown shard '"
                                    + shard + "' (shards: " + fallback.shards() + ")");
                }
            });
        }

        @Override
        public String shardFor(K key) {
            String pinned = overrides.get(Objects.requireNonNull(key, "key"));
            return pinned != null ? pinned : fallback.shardFor(key);
        }

        @Override
        public Set<String> shards() {
            return fallback.shards();
        }

        @Override
        public String strategy() {
            return fallback.strategy();
        }
    }

    /** Checks names are non-blank and unique; returns them as an ordered set. */
    static Set<String> uniqueNames(String field, Collection<String> names) {
        Set<String> seen = new LinkedHashSet<>();
        for (String n : names) {
            Objects.requireNonNull(n, field + " element");
            if (n.isBlank()) {
                throw new IllegalArgumentException(field + ": a name is blank");
            }
            if (!seen.add(n)) {
                throw new IllegalArgumentException(field + ": name '" + n + "' appears twice");
            }
        }
        return java.util.Collections.unmodifiableSet(seen);
    }
}
