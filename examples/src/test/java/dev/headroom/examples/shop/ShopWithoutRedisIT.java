package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The shop started while its Redis does not answer: it serves, with local limits and no L2. */
@ExtendWith(HeadroomServices.class)
class ShopWithoutRedisIT {

    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @Test
    void withRedisDownAtStartTheShopServesFromTheDatabaseWithLocalRateLimits(TestDatabase database) throws Exception {
        String deadRedis;
        try (ServerSocket free = new ServerSocket(0)) {
            deadRedis = "redis://127.0.0.1:" + free.getLocalPort(); // closed again: nothing listens there
        }
        ShopConfig config = ShopConfig.of(
                        List.of(new ShopConfig.Shard("shop_0", database.createDatabase(), null)), deadRedis, "shop:")
                .withPort(0)
                .withPoolSize(2)
                .withRateLimits(2, 1_000);
        try (ShopApp app = ShopApp.start(config)) {
            String base = "http://127.0.0.1:" + app.port();
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> product = get(base + "/products/7");
                assertThat(product.statusCode()).as(product.body()).isEqualTo(200);
                assertThat(new ObjectMapper()
                                .readTree(product.body())
                                .get("name")
                                .asText())
                        .isEqualTo("Product 7");
            }
            HttpResponse<String> refused = get(base + "/products/7");
            assertThat(refused.statusCode())
                    .as("the anonymous limit holds, locally")
                    .isEqualTo(429);
            assertThat(refused.headers().firstValue("Retry-After")).isPresent();

            JsonNode health = new ObjectMapper().readTree(get(base + "/health").body());
            assertThat(health.get("status").asText()).isEqualTo("UP");
            assertThat(health.get("redis").asText()).isEqualTo("not connected");
        }
    }

    private static HttpResponse<String> get(String url) throws Exception {
        return HTTP.send(
                HttpRequest.newBuilder(URI.create(url))
                        .timeout(Duration.ofSeconds(30))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
