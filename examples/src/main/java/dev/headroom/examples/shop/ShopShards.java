package dev.headroom.examples.shop;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.Backoff;
import dev.headroom.db.RoutingDataSource;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.postgres.PostgresJobStore;
import dev.headroom.shard.JumpShardResolver;
import dev.headroom.shard.KeyHasher;
import dev.headroom.shard.ShardedDataSource;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shop's databases: tenants spread over the shard databases by jump hash ({@link
 * ShardedDataSource}), each shard behind a {@link RoutingDataSource} (writes to its primary, reads
 * to the replica), each with the job queue of its orders' confirmations in the same database (so an
 * order and its job commit together). Thread-safe; closing closes every pool.
 */
final class ShopShards implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ShopShards.class);

    /** One shard: its primary pool, its router, and the queue in its database. */
    record Shard(String name, HikariDataSource primary, RoutingDataSource router, JobQueue queue) {
        /** The queue name of this shard's confirmations (one per shard keeps its metrics apart). */
        String queueName() {
            return "confirm_" + name;
        }
    }

    private final ShardedDataSource<Long> tenants;
    private final Map<String, Shard> shards;

    private ShopShards(ShardedDataSource<Long> tenants, Map<String, Shard> shards) {
        this.tenants = tenants;
        this.shards = shards;
    }

    /** Opens every shard, creates the schema where missing and seeds the catalog. */
    static ShopShards open(ShopConfig config, MeterRegistry registry) throws SQLException {
        Map<String, Shard> shards = new LinkedHashMap<>();
        try {
            for (ShopConfig.Shard spec : config.shards()) {
                shards.put(spec.name(), openShard(spec, config, registry));
            }
        } catch (SQLException | RuntimeException e) {
            shards.values().forEach(ShopShards::closeQuietly);
            throw e;
        }
        // Tenants → shards: jump consistent hash over the shard names, in order.
        List<String> names = new ArrayList<>(shards.keySet());
        Map<String, RoutingDataSource> routers = new LinkedHashMap<>();
        shards.forEach((name, shard) -> routers.put(name, shard.router()));
        ShardedDataSource<Long> tenants =
                new ShardedDataSource<>(Long.class, new JumpShardResolver<>(KeyHasher.ofLong(), names), routers);
        ShopShards result = new ShopShards(tenants, shards);
        try {
            result.seed(config.tenants(), config.productsPerTenant());
        } catch (SQLException | RuntimeException e) {
            result.close();
            throw e;
        }
        return result;
    }

    private static Shard openShard(ShopConfig.Shard spec, ShopConfig config, MeterRegistry registry)
            throws SQLException {
        HikariConfig pool = new HikariConfig();
        pool.setJdbcUrl(spec.primaryUrl());
        pool.setPoolName(spec.name() + "-primary");
        pool.setMaximumPoolSize(config.poolSize());
        HikariDataSource primary = new HikariDataSource(pool);
        try {
            createSchema(primary);

            // The router: writes and transactions to the primary, reads to the replica (when it
            // has replayed what the reader needs: see Orders.find).
            var router = RoutingDataSource.builder(spec.name())
                    .primary(primary)
                    .poolConfig(p -> p.setMaximumPoolSize(config.poolSize()))
                    .maxTokenWait(config.maxTokenWait())
                    .meterRegistry(registry);
            String replicaUrl = spec.replicaUrl();
            if (replicaUrl != null) {
                router.replica("replica", replicaUrl);
                log.info(
                        "shard {}: primary {}, replica {} ({})",
                        spec.name(),
                        spec.primaryUrl(),
                        replicaUrl,
                        reachable(replicaUrl) ? "reachable" : "not reachable now: reads use the primary until it is");
            } else {
                log.info("shard {}: primary {}, no replica (reads use the primary)", spec.name(), spec.primaryUrl());
            }

            // The queue of this shard's order confirmations, in the shard's own database.
            PostgresJobStore store = PostgresJobStore.create(primary); // the primary, never the router
            store.createSchema();
            JobQueue queue = JobQueue.builder(store)
                    .backoff(Backoff.builder()
                            .base(config.retryDelay())
                            .cap(config.retryDelay().multipliedBy(8))
                            .build())
                    .meterRegistry(registry)
                    .build();
            return new Shard(spec.name(), primary, router.build(), queue);
        } catch (SQLException | RuntimeException e) {
            primary.close();
            throw e;
        }
    }

    /** The shard that holds a tenant. */
    Shard forTenant(long tenantId) {
        Shard shard = shards.get(tenants.shardFor(tenantId));
        if (shard == null) {
            throw new IllegalStateException("no shard named " + tenants.shardFor(tenantId));
        }
        return shard;
    }

    /** Every shard, in configuration order. */
    List<Shard> all() {
        return List.copyOf(shards.values());
    }

    private static void createSchema(HikariDataSource primary) throws SQLException {
        try (Connection c = primary.getConnection();
                Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS products (tenant_id bigint NOT NULL, id bigint NOT NULL,"
                    + " name text NOT NULL, price_cents bigint NOT NULL, PRIMARY KEY (tenant_id, id))");
            // an order belongs to the API key that placed it (owner), and its idempotency key is
            // that owner's: two clients choosing the same key place two orders
            s.execute("CREATE TABLE IF NOT EXISTS orders (tenant_id bigint NOT NULL, id bigserial,"
                    + " owner text NOT NULL, idempotency_key text NOT NULL, request_hash text NOT NULL,"
                    + " product_id bigint NOT NULL, quantity int NOT NULL, total_cents bigint NOT NULL,"
                    + " status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
                    + " PRIMARY KEY (tenant_id, id))");
            // a database of an earlier shop, whose orders had no owner: they belong to nobody now
            s.execute("ALTER TABLE orders ADD COLUMN IF NOT EXISTS owner text NOT NULL DEFAULT ''");
            s.execute("CREATE UNIQUE INDEX IF NOT EXISTS orders_owner_idempotency_key"
                    + " ON orders (tenant_id, owner, idempotency_key)");
            s.execute("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_tenant_id_idempotency_key_key");
        }
    }

    /** Gives tenants 1..tenants products 1..products each, on their own shard; keeps what exists. */
    private void seed(int tenantCount, int products) throws SQLException {
        for (long tenant = 1; tenant <= tenantCount; tenant++) {
            try (Connection c = forTenant(tenant).primary().getConnection();
                    PreparedStatement s = c.prepareStatement("INSERT INTO products (tenant_id, id, name, price_cents)"
                            + " SELECT ?, g, 'Product ' || g, 100 + (g * 137) % 9900 FROM generate_series(1, ?) g"
                            + " ON CONFLICT DO NOTHING")) {
                s.setLong(1, tenant);
                s.setInt(2, products);
                s.executeUpdate();
            }
        }
    }

    private static boolean reachable(String url) {
        try (Connection c = DriverManager.getConnection(url + (url.contains("?") ? "&" : "?") + "connectTimeout=2")) {
            return c.isValid(2);
        } catch (SQLException e) {
            return false;
        }
    }

    @Override
    public void close() {
        shards.values().forEach(ShopShards::closeQuietly);
    }

    private static void closeQuietly(Shard shard) {
        try {
            shard.queue().close();
        } finally {
            try {
                shard.router().close();
            } finally {
                shard.primary().close();
            }
        }
    }
}
