package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.cache.TieredCache;
import dev.headroom.db.RoutingDataSource;
import dev.headroom.shard.JumpShardResolver;
import dev.headroom.shard.KeyHasher;
import dev.headroom.shard.ShardResolver;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's "Use it" section: the smallest working setup of each module. Keep in step. */
@ExtendWith(HeadroomServices.class)
class SmallestSetupIT {

    record Product(String id, String name) {}

    @Test
    void smallestCacheIsAnL1WithALoader() {
        AtomicInteger loads = new AtomicInteger();
        // README: cache
        try (TieredCache<String, Product> products = TieredCache.<String, Product>builder("products")
                .maximumSize(10_000)
                .ttl(Duration.ofMinutes(5))
                .loader(id -> new Product(id, "product " + id + " #" + loads.incrementAndGet()))
                .build()) {
            Product p = products.get("42");
            // README: end
            assertThat(p).isEqualTo(new Product("42", "product 42 #1"));
            assertThat(products.get("42")).isSameAs(p);
            assertThat(loads).hasValue(1);
        }
    }

    @Test
    void smallestRouterIsAPrimaryAndAReplica(TestDatabase database, TestReplica replica) throws SQLException {
        String primaryUrl = database.jdbcUrl();
        String replicaUrl = replica.jdbcUrl();
        // README: db-routing
        try (RoutingDataSource db = RoutingDataSource.builder("shop")
                .primary(primaryUrl)
                .replica("replica-1", replicaUrl)
                .build()) {
            // not in the README snippet: a replica serves from its first probe on; before that, reads go
            // to the primary
            await().atMost(Duration.ofSeconds(30)).until(() -> db.isServing("replica-1"));
            Boolean onReplica = db.replica(
                    () -> { // reads here go to a replica within the lag bound
                        try (Connection c = db.getConnection();
                                Statement s = c.createStatement();
                                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
                            rs.next();
                            return rs.getBoolean(1);
                        }
                    });
            // README: end
            assertThat(onReplica).isTrue();
        }
    }

    @Test
    void smallestShardResolverIsJumpHashOverNamedShards() {
        // README: shards
        ShardResolver<Long> tenants = new JumpShardResolver<>(KeyHasher.ofLong(), List.of("eu-1", "eu-2"));
        String shard = tenants.shardFor(42L);
        // README: end
        assertThat(shard).isIn("eu-1", "eu-2");
        assertThat(tenants.shardFor(42L)).isEqualTo(shard);
    }
}
