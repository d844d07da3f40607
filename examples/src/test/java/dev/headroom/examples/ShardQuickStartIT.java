package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.RequestContext;
import dev.headroom.shard.JumpShardResolver;
import dev.headroom.shard.KeyHasher;
import dev.headroom.shard.ReshardingPlan;
import dev.headroom.shard.ShardResolver;
import dev.headroom.shard.ShardResolvers;
import dev.headroom.shard.ShardedDataSource;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.ds.PGSimpleDataSource;

/** The README's shard quick start, run against real databases. Keep the two in step. */
@ExtendWith(HeadroomServices.class)
class ShardQuickStartIT {

    private static DataSource pg(String url) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(url);
        ds.setUser("postgres");
        return ds;
    }

    @Test
    void readmeShardQuickStartWorks(TestDatabase database) throws SQLException {
        DataSource eu1 = pg(database.createDatabase());
        DataSource eu2 = pg(database.createDatabase());
        DataSource eu3 = pg(database.createDatabase());
        long tenantId = 7;

        // README: begin
        ShardResolver<Long> tenants = ShardResolvers.withOverrides(
                new JumpShardResolver<>(KeyHasher.ofLong(), List.of("eu-1", "eu-2")),
                Map.of(42L, "eu-2")); // a hot tenant pinned to its own shard
        ShardedDataSource<Long> shards = new ShardedDataSource<>(Long.class, tenants, Map.of("eu-1", eu1, "eu-2", eu2));

        try (Connection c = shards.forKey(tenantId).getConnection(); // explicit
                Statement s = c.createStatement()) {
            s.execute("SELECT 1");
        }
        try (RequestContext.Scope scope =
                        RequestContext.current().withShardKey(tenantId).open();
                Connection c = shards.getConnection(); // from the request context
                Statement s = c.createStatement()) {
            s.execute("SELECT 1");
        }

        // Growing to three shards: which tenants move, and where?
        ShardResolver<Long> grown = new JumpShardResolver<>(KeyHasher.ofLong(), List.of("eu-1", "eu-2", "eu-3"));
        List<ReshardingPlan.Move<Long>> moves = new ArrayList<>();
        ReshardingPlan plan = ReshardingPlan.compute(
                tenants, grown, () -> LongStream.range(0, 10_000).iterator(), moves::add);
        System.out.println(plan); // 3423 of 10000 keys move (34.23%): ~1/3 to eu-3, and tenant 42,
        // whose override the new resolver does not carry, from eu-2 to eu-1
        // README: end

        assertThat(plan.moved()).isEqualTo(moves.size());
        assertThat(plan.movedFraction()).isBetween(0.30, 0.37);
        try (Connection c = eu3.getConnection();
                Statement s = c.createStatement()) {
            assertThat(s.execute("SELECT 1")).isTrue();
        }
    }
}
