package dev.headroom.shard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.RequestContext;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.ds.PGSimpleDataSource;

/** Four real databases as shards: every tenant's rows land exactly where the resolver says. */
@ExtendWith(HeadroomServices.class)
class ShardedDataSourceIT {

    private static DataSource dataSource(String url) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setUrl(url);
        if (!url.contains("user=")) {
            ds.setUser("postgres");
        }
        return ds;
    }

    @Test
    void rowsForAThousandTenantsLandInTheDatabaseTheResolverNames(TestDatabase db) throws SQLException {
        List<String> names = List.of("shard-a", "shard-b", "shard-c", "shard-d");
        Map<String, DataSource> shards = new LinkedHashMap<>();
        for (String name : names) {
            DataSource ds = dataSource(db.createDatabase());
            try (Connection c = ds.getConnection();
                    Statement s = c.createStatement()) {
                s.execute("CREATE TABLE events (tenant bigint, seq int)");
            }
            shards.put(name, ds);
        }
        ShardedDataSource<Long> sharded =
                new ShardedDataSource<>(Long.class, new JumpShardResolver<>(KeyHasher.ofLong(), names), shards);

        for (long tenant = 0; tenant < 1000; tenant++) {
            if (tenant % 2 == 0) {
                insert(sharded.forKey(tenant).getConnection(), tenant);
            } else {
                try (RequestContext.Scope ignored =
                        RequestContext.empty().withShardKey(tenant).open()) {
                    insert(sharded.getConnection(), tenant); // routed by the context's shard key
                }
            }
        }

        int rows = 0;
        for (String name : names) {
            try (Connection c = shards.get(name).getConnection();
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT tenant, count(*) FROM events GROUP BY tenant")) {
                while (rs.next()) {
                    long tenant = rs.getLong(1);
                    assertThat(sharded.shardFor(tenant))
                            .as("tenant %d found in %s", tenant, name)
                            .isEqualTo(name);
                    assertThat(rs.getInt(2)).isEqualTo(3);
                    rows++;
                }
            }
        }
        assertThat(rows).as("every tenant exactly once, in one database").isEqualTo(1000);

        assertThatThrownBy(sharded::getConnection)
                .isInstanceOf(NoShardKeyException.class)
                .hasMessageContaining("no shard key");
        try (RequestContext.Scope ignored =
                RequestContext.empty().withShardKey("not-a-long").open()) {
            assertThatThrownBy(sharded::getConnection)
                    .hasMessageContaining("expected java.lang.Long")
                    .message()
                    .doesNotContain("not-a-long");
        }
        assertThatThrownBy(() -> new ShardedDataSource<>(
                        Long.class,
                        new JumpShardResolver<>(KeyHasher.ofLong(), names),
                        Map.of("shard-a", shards.get("shard-a"))))
                .hasMessageContaining("shards: no DataSource for shard 'shard-b'");
    }

    private static void insert(Connection connection, long tenant) throws SQLException {
        try (Connection c = connection;
                PreparedStatement s = c.prepareStatement("INSERT INTO events VALUES (?, ?)")) {
            for (int seq = 0; seq < 3; seq++) {
                s.setLong(1, tenant);
                s.setInt(2, seq);
                s.addBatch();
            }
            s.executeBatch();
        }
    }
}
