package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestRedis;
import dev.headroom.testing.TestReplica;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The shop under failure, against the real PostgreSQL, replica and Redis: the guarded
 * recommendations (live, slowed past the timeout, failing, a held bulkhead shedding by
 * criticality), the admin toggles that cause those failures, and the cut link to Redis. A shop of
 * its own, so the faults here never reach {@link ShopAppIT}.
 */
@ExtendWith(HeadroomServices.class)
class ShopResilienceIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private static ShopApp app;

    @BeforeAll
    static void startTheShop(TestDatabase database, TestReplica replica, TestRedis redis) throws Exception {
        List<ShopConfig.Shard> shards = TestShards.create(database, replica, 2);
        app = ShopApp.start(ShopConfig.of(shards, redis.uri(), redis.keyPrefix() + "shop:")
                .withPort(0)
                .withPoolSize(3)
                .withRateLimits(10_000, 10_000)
                .withConfirmationFailureRate(0));
    }

    @AfterAll
    static void stopTheShop() {
        if (app != null) {
            app.close();
        }
    }

    /** Before each test too: the shop starts with a 2% failure fraction, which no assertion here allows. */
    @BeforeEach
    @AfterEach
    void healTheDependencies() throws Exception {
        app.recommendationService().setLatency(Duration.ZERO);
        app.recommendationService().setFailureFraction(0);
        send(admin("/admin/redis?state=connected"));
    }

    @Test
    void aHealthyServiceAnswersLiveAndTheGuardsMetersAreOnTheMetricsPage() throws Exception {
        JsonNode answer = recommendations(withKey("/products/5/recommendations"));

        assertThat(answer.get("source").asText()).isEqualTo("live");
        assertThat(answer.get("reason").isNull()).isTrue();
        assertThat(answer.get("criticality").asText()).isEqualTo("default");
        assertThat(answer.get("products")).hasSize(RecommendationService.COUNT);
        assertThat(answer.get("products").get(0).get("id").asLong()).isEqualTo(6);
        String metrics = send(withKey("/metrics")).body();
        assertThat(metrics)
                .contains("headroom_resilience_rejections_total{criticality=\"sheddable\",guard=\"recommendations\"")
                .contains("headroom_resilience_inflight{guard=\"recommendations\"}")
                .contains("shop_recommendations_total{reason=\"none\",source=\"live\"}");
    }

    @Test
    void aServiceSlowedPastTheTimeoutByTheAdminToggleIsAnsweredWithPopularProducts() throws Exception {
        HttpResponse<String> toggled = send(admin("/admin/recommendations/latency?ms=5000"));
        assertThat(toggled.statusCode()).as(toggled.body()).isEqualTo(200);
        assertThat(app.recommendationService().latency()).isEqualTo(Duration.ofSeconds(5));

        JsonNode answer = recommendations(withKey("/products/5/recommendations"));

        assertThat(answer.get("source").asText()).isEqualTo("fallback");
        assertThat(answer.get("reason").asText()).isEqualTo("timeout");
        assertThat(answer.get("products")).hasSize(RecommendationService.COUNT);
        // the timed-out sleep was interrupted: its bulkhead slot is free again
        await().atMost(Duration.ofSeconds(10))
                .until(() -> app.recommendations().guard().inFlight() == 0);
    }

    @Test
    void aFailingServiceIsAnsweredWithPopularProductsAfterItsRetry() throws Exception {
        HttpResponse<String> toggled = send(admin("/admin/recommendations/failure-fraction?value=1"));
        assertThat(toggled.statusCode()).as(toggled.body()).isEqualTo(200);

        JsonNode answer = recommendations(withKey("/products/9/recommendations"));

        assertThat(answer.get("source").asText()).isEqualTo("fallback");
        assertThat(answer.get("reason").asText()).isEqualTo("failure");
        assertThat(answer.get("products").get(0).get("id").asLong()).isEqualTo(1); // the popular ones
        assertThat(send(admin("/admin/recommendations/failure-fraction?value=2"))
                        .statusCode())
                .isEqualTo(400);
        assertThat(send(admin("/admin/recommendations/latency?ms=-1")).statusCode())
                .isEqualTo(400);
    }

    @Test
    void withHalfTheBulkheadHeldSheddableCallersAreShedWhileCriticalOnesAreServed() throws Exception {
        int half = Recommendations.MAX_CONCURRENT_CALLS / 2; // the SHEDDABLE ceiling
        CountDownLatch release = new CountDownLatch(1);
        try {
            app.recommendationService().holdNext(half, release);
            List<CompletableFuture<HttpResponse<String>>> holders = new ArrayList<>();
            for (int i = 0; i < half; i++) {
                holders.add(HTTP.sendAsync(
                        withKey("/products/3/recommendations")
                                .header("X-Criticality", "critical")
                                .build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            // the stuck calls time out for their callers but keep their slots, as a stuck dependency does
            for (CompletableFuture<HttpResponse<String>> holder : holders) {
                assertThat(JSON.readTree(holder.get().body()).get("reason").asText())
                        .isEqualTo("timeout");
            }
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> app.recommendationService().held() == half);
            assertThat(app.recommendations().guard().inFlight()).isEqualTo(half);

            JsonNode anonymous = recommendations(anonymous("/products/3/recommendations"));
            JsonNode sheddable =
                    recommendations(withKey("/products/3/recommendations").header("X-Criticality", "sheddable"));
            JsonNode critical =
                    recommendations(withKey("/products/3/recommendations").header("X-Criticality", "critical"));
            JsonNode ordinary = recommendations(withKey("/products/3/recommendations"));

            assertThat(anonymous.get("criticality").asText()).isEqualTo("sheddable");
            assertThat(anonymous.get("source").asText()).isEqualTo("fallback");
            assertThat(anonymous.get("reason").asText()).isEqualTo("shed");
            assertThat(sheddable.get("reason").asText()).isEqualTo("shed");
            assertThat(critical.get("source").asText()).isEqualTo("live");
            assertThat(ordinary.get("source").asText()).isEqualTo("live");
            assertThat(app.meterRegistry()
                            .get("headroom.resilience.rejections")
                            .tag("guard", "recommendations")
                            .tag("reason", "shed")
                            .tag("criticality", "sheddable")
                            .counter()
                            .count())
                    .isGreaterThanOrEqualTo(2);
            JsonNode dashboard = JSON.readTree(send(withKey("/dashboard/data")).body());
            assertThat(dashboard.get("guardRejections").get("shed/sheddable").asDouble())
                    .isGreaterThanOrEqualTo(2);
            assertThat(dashboard.get("recommendations").get("fallback/shed").asDouble())
                    .isGreaterThanOrEqualTo(2);
        } finally {
            release.countDown();
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> app.recommendations().guard().inFlight() == 0);
    }

    @Test
    void withEverySlotHeldEvenCriticalCallersGetTheFallback() throws Exception {
        int all = Recommendations.MAX_CONCURRENT_CALLS;
        CountDownLatch release = new CountDownLatch(1);
        try {
            app.recommendationService().holdNext(all, release);
            List<CompletableFuture<HttpResponse<String>>> holders = new ArrayList<>();
            for (int i = 0; i < all; i++) {
                holders.add(HTTP.sendAsync(
                        withKey("/products/4/recommendations")
                                .header("X-Criticality", "critical")
                                .build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            CompletableFuture.allOf(holders.toArray(CompletableFuture[]::new)).get();
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> app.recommendationService().held() == all);

            JsonNode critical =
                    recommendations(withKey("/products/4/recommendations").header("X-Criticality", "critical"));

            assertThat(critical.get("source").asText()).isEqualTo("fallback");
            assertThat(critical.get("reason").asText()).isEqualTo("bulkhead_full");
            assertThat(critical.get("products")).hasSize(RecommendationService.COUNT);
        } finally {
            release.countDown();
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> app.recommendations().guard().inFlight() == 0);
    }

    @Test
    void anAnonymousCallerCannotRaiseItsCriticalityAndAnUnknownOneIsRefused() throws Exception {
        JsonNode anonymous =
                recommendations(anonymous("/products/2/recommendations").header("X-Criticality", "critical"));
        assertThat(anonymous.get("criticality").asText()).isEqualTo("sheddable");

        HttpResponse<String> unknown =
                send(withKey("/products/2/recommendations").header("X-Criticality", "urgent"));
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(unknown.body()).contains("X-Criticality must be critical, default or sheddable");

        // a key claims at most what it was issued with; without a claim it is DEFAULT or below
        HttpResponse<String> raised = send(anonymous("/products/2/recommendations")
                .header("Api-Key", "demo-1")
                .header("X-Criticality", "critical"));
        assertThat(raised.statusCode()).as(raised.body()).isEqualTo(403);
        assertThat(raised.body()).contains("this API key may claim X-Criticality default at most, not critical");
        JsonNode lowered = recommendations(anonymous("/products/2/recommendations")
                .header("Api-Key", "demo-1")
                .header("X-Criticality", "sheddable"));
        assertThat(lowered.get("criticality").asText()).isEqualTo("sheddable");
        JsonNode batch =
                recommendations(anonymous("/products/2/recommendations").header("Api-Key", "demo-batch"));
        assertThat(batch.get("criticality").asText()).isEqualTo("sheddable");
        JsonNode checkout = recommendations(withKey("/products/2/recommendations"));
        assertThat(checkout.get("criticality").asText()).isEqualTo("default");
    }

    @Test
    void theNewAdminTogglesRefuseCallersThatAreNotOnThisMachine() throws Exception {
        InetAddress external = nonLoopbackAddress();
        String base = "http://" + external.getHostAddress() + ":" + app.port();
        for (String path : List.of(
                "/admin/recommendations/latency?ms=5000",
                "/admin/recommendations/failure-fraction?value=1",
                "/admin/redis?state=cut")) {
            HttpResponse<String> refused = HTTP.send(
                    HttpRequest.newBuilder(URI.create(base + path))
                            .header("Api-Key", "demo-checkout")
                            .timeout(Duration.ofSeconds(30))
                            .POST(HttpRequest.BodyPublishers.noBody())
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(refused.statusCode()).as(path + ": " + refused.body()).isEqualTo(403);
        }
        assertThat(app.recommendationService().latency()).isEqualTo(Duration.ZERO);
        assertThat(app.recommendationService().failureFraction()).isZero();
        assertThat(recommendations(withKey("/products/5/recommendations"))
                        .get("source")
                        .asText())
                .isEqualTo("live");
        assertThat(send(withKey("/products/5")).statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(send(withKey("/health")).body()).get("redis").asText())
                .isEqualTo("up");
    }

    @Test
    void withTheLinkToRedisCutProductsAreStillServedAndRestoringItReconnects() throws Exception {
        assertThat(send(withKey("/products/11")).statusCode()).isEqualTo(200); // now in L1 and Redis

        HttpResponse<String> cut = send(admin("/admin/redis?state=cut"));
        assertThat(cut.statusCode()).as(cut.body()).isEqualTo(200);
        assertThat(JSON.readTree(send(withKey("/health")).body()).get("redis").asText())
                .isEqualTo("down");

        HttpResponse<String> cached = send(withKey("/products/11"));
        HttpResponse<String> neverRead = send(withKey("/products/12").header("Tenant-Id", "2"));
        HttpResponse<String> anonymous = send(anonymous("/products"));
        JsonNode recommended = recommendations(withKey("/products/11/recommendations"));

        assertThat(cached.statusCode()).as(cached.body()).isEqualTo(200);
        assertThat(JSON.readTree(cached.body()).get("id").asLong()).isEqualTo(11);
        assertThat(neverRead.statusCode()).as(neverRead.body()).isEqualTo(200); // from the database
        assertThat(JSON.readTree(neverRead.body()).get("tenantId").asLong()).isEqualTo(2);
        assertThat(anonymous.statusCode()).as(anonymous.body()).isEqualTo(200); // local limits, fail open
        assertThat(recommended.get("products")).isNotEmpty();

        assertThat(send(admin("/admin/redis?state=connected")).statusCode()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(200))
                .until(() -> JSON.readTree(send(withKey("/health")).body())
                        .get("redis")
                        .asText()
                        .equals("up"));
        assertThat(send(admin("/admin/redis?state=severed")).statusCode()).isEqualTo(400);
    }

    private static InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                if (address instanceof Inet4Address && !address.isLoopbackAddress()) {
                    return address;
                }
            }
        }
        throw new AssertionError("this test needs a non-loopback IPv4 address on this machine to call the shop"
                + " from; none is up (check `ip addr`)");
    }

    private static JsonNode recommendations(HttpRequest.Builder request) throws Exception {
        HttpResponse<String> response = send(request);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private static HttpRequest.Builder withKey(String path) {
        return anonymous(path).header("Api-Key", "demo-checkout");
    }

    private static HttpRequest.Builder anonymous(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + path))
                .timeout(Duration.ofSeconds(30));
    }

    private static HttpRequest.Builder admin(String path) {
        return withKey(path).POST(HttpRequest.BodyPublishers.noBody());
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
