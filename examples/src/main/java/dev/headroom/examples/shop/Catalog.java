package dev.headroom.examples.shop;

import dev.headroom.db.RoutingDataSource;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.LongFunction;
import org.jspecify.annotations.Nullable;

/**
 * The catalog's SQL: product reads on a replica of the tenant's shard. The caches in front of it
 * are wired in {@link ShopApp}; every call here is a database read, counted in {@code
 * shop.catalog.reads{what}} so the dashboard and tests can compare them with requests. Thread-safe.
 */
final class Catalog {

    /** How many products {@code GET /products} lists. */
    static final int PAGE = 20;

    private final LongFunction<RoutingDataSource> shardOf;
    private final Counter productReads;
    private final Counter listReads;

    Catalog(LongFunction<RoutingDataSource> shardOf, MeterRegistry registry) {
        this.shardOf = shardOf;
        this.productReads = Counter.builder("shop.catalog.reads")
                .description("catalog reads that reached the database")
                .tag("what", "product")
                .register(registry);
        this.listReads = Counter.builder("shop.catalog.reads")
                .description("catalog reads that reached the database")
                .tag("what", "list")
                .register(registry);
    }

    /** Reads one product from a replica of its tenant's shard; null if there is none. */
    @Nullable
    Product product(long tenantId, long productId) throws SQLException {
        productReads.increment();
        RoutingDataSource db = shardOf.apply(tenantId);
        Optional<Product> found = db.replica(() -> {
            try (Connection c = db.getConnection();
                    PreparedStatement s = c.prepareStatement(
                            "SELECT name, price_cents FROM products WHERE tenant_id = ? AND id = ?")) {
                s.setLong(1, tenantId);
                s.setLong(2, productId);
                try (ResultSet rs = s.executeQuery()) {
                    return rs.next()
                            ? Optional.of(new Product(tenantId, productId, rs.getString(1), rs.getLong(2)))
                            : Optional.empty();
                }
            }
        });
        return found.orElse(null);
    }

    /** Reads the first {@link #PAGE} products of a tenant from a replica of its shard. */
    ProductList list(long tenantId) throws SQLException {
        listReads.increment();
        RoutingDataSource db = shardOf.apply(tenantId);
        return db.replica(() -> {
            try (Connection c = db.getConnection();
                    PreparedStatement s = c.prepareStatement("SELECT id, name, price_cents FROM products"
                            + " WHERE tenant_id = ? ORDER BY id LIMIT " + PAGE)) {
                s.setLong(1, tenantId);
                List<Product> items = new ArrayList<>();
                try (ResultSet rs = s.executeQuery()) {
                    while (rs.next()) {
                        items.add(new Product(tenantId, rs.getLong(1), rs.getString(2), rs.getLong(3)));
                    }
                }
                return new ProductList(tenantId, items);
            }
        });
    }
}
