package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestRedis;
import dev.headroom.testing.TestReplica;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A shop started on the databases of an earlier shop, whose orders had no owner: the schema is
 * migrated in place, twice without harm, and what the README says of the old orders holds.
 */
@ExtendWith(HeadroomServices.class)
class ShopMigrationIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void theOrdersOfAnEarlierShopGetAnOwnerColumnAndBelongToNobody(
            TestDatabase database, TestReplica replica, TestRedis redis) throws Exception {
        List<ShopConfig.Shard> shards = TestShards.create(database, replica, 2);
        for (ShopConfig.Shard shard : shards) {
            try (Connection c = DriverManager.getConnection(shard.primaryUrl());
                    Statement s = c.createStatement()) {
                // the orders table as the shop created it before orders had owners
                s.execute("CREATE TABLE orders (tenant_id bigint NOT NULL, id bigserial,"
                        + " idempotency_key text NOT NULL, request_hash text NOT NULL, product_id bigint NOT NULL,"
                        + " quantity int NOT NULL, total_cents bigint NOT NULL, status text NOT NULL,"
                        + " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, id),"
                        + " UNIQUE (tenant_id, idempotency_key))");
                s.execute("INSERT INTO orders (tenant_id, idempotency_key, request_hash, product_id, quantity,"
                        + " total_cents, status) SELECT t, 'old-key', 'h', 1, 1, 100, 'confirmed'"
                        + " FROM generate_series(1, 4) t");
            }
        }
        ShopConfig config = ShopConfig.of(shards, redis.uri(), redis.keyPrefix() + "shop:")
                .withPort(0)
                .withPoolSize(2)
                .withConfirmationFailureRate(0);
        List<Long> ids = new ArrayList<>();
        for (int start = 0; start < 2; start++) { // the second start finds the schema migrated
            try (ShopApp app = ShopApp.start(config)) {
                // the old order of tenant 1 (id 1 on its shard) belongs to no key
                assertThat(send(app, "/orders/1", null).statusCode()).isEqualTo(404);
                // its idempotency key is no longer the key's: the first post places a new order,
                // a repeat returns that one
                HttpResponse<String> placed = send(app, "/orders", "{\"productId\": 2, \"quantity\": 1}");
                assertThat(placed.statusCode()).as(placed.body()).isEqualTo(start == 0 ? 201 : 200);
                ids.add(JSON.readTree(placed.body()).get("id").asLong());
            }
        }
        assertThat(ids.get(1)).as("the repeat after a restart").isEqualTo(ids.get(0));
        assertThat(ids.get(0)).as("a new order, not the old one").isNotEqualTo(1L);
        for (ShopConfig.Shard shard : shards) {
            try (Connection c = DriverManager.getConnection(shard.primaryUrl());
                    Statement s = c.createStatement();
                    ResultSet rs = s.executeQuery("SELECT string_agg(indexname, ',' ORDER BY indexname)"
                            + " FROM pg_indexes WHERE tablename = 'orders'")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("orders_owner_idempotency_key,orders_pkey");
            }
        }
    }

    private static HttpResponse<String> send(ShopApp app, String path, @Nullable String body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + path))
                .timeout(Duration.ofSeconds(30))
                .header("Api-Key", "demo-1")
                .header("Tenant-Id", "1");
        if (body != null) {
            request.header("Idempotency-Key", "old-key")
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body));
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
