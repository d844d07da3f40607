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
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * The shop, started once on a random port against the real PostgreSQL (four shard databases of
 * this test's own), the streaming replica and Redis, and driven over HTTP.
 */
@ExtendWith(HeadroomServices.class)
class ShopAppIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final int ANONYMOUS_PER_MINUTE = 5;

    private static ShopApp app;
    private static TestReplica replica;
    private static ShopConfig config;

    @BeforeAll
    static void startTheShop(TestDatabase database, TestReplica testReplica, TestRedis redis) throws Exception {
        replica = testReplica;
        List<ShopConfig.Shard> shards = TestShards.create(database, replica, 4);
        config = ShopConfig.of(shards, redis.uri(), redis.keyPrefix() + "shop:")
                .withPort(0)
                .withPoolSize(3)
                .withRateLimits(ANONYMOUS_PER_MINUTE, 10_000)
                .withConfirmationFailureRate(0)
                .withConfirmationRetries(2, Duration.ofMillis(20));
        app = ShopApp.start(config);
    }

    @AfterAll
    static void stopTheShop() {
        if (app != null) {
            app.close();
        }
    }

    @Test
    void aBurstOfConcurrentRequestsForOneHotProductReadsTheDatabaseOnce() throws Exception {
        double readsBefore = productReads();
        int clients = 32;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            List<Future<HttpResponse<String>>> responses = new ArrayList<>();
            for (int i = 0; i < clients; i++) {
                Callable<HttpResponse<String>> call = () -> {
                    start.await();
                    return send(get("/products/77").header("Tenant-Id", "2"));
                };
                responses.add(pool.submit(call));
            }
            start.countDown();
            for (Future<HttpResponse<String>> response : responses) {
                HttpResponse<String> r = response.get();
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                JsonNode product = JSON.readTree(r.body());
                assertThat(product.get("id").asLong()).isEqualTo(77);
                assertThat(product.get("tenantId").asLong()).isEqualTo(2);
                assertThat(product.get("name").asText()).isEqualTo("Product 77");
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(productReads() - readsBefore)
                .as("catalog reads that reached the database")
                .isEqualTo(1);
    }

    @Test
    void theProductListComesFromTheTenantsShardAndBadProductRequestsGetA4xxThatSaysWhy() throws Exception {
        HttpResponse<String> list = send(get("/products").header("Tenant-Id", "3"));
        assertThat(list.statusCode()).isEqualTo(200);
        JsonNode items = JSON.readTree(list.body()).get("items");
        assertThat(items).hasSize(Catalog.PAGE);
        assertThat(items.get(0).get("tenantId").asLong()).isEqualTo(3);
        assertThat(items.get(0).get("id").asLong()).isEqualTo(1);

        assertError(send(get("/products/100000").header("Tenant-Id", "3")), 404, "tenant 3 has no product 100000");
        assertError(send(get("/products/abc")), 400, "product id must be a positive whole number, got 'abc'");
        assertError(send(get("/products/1").header("Tenant-Id", "x")), 400, "Tenant-Id must be a positive");
        // a route the shop does not have answers in its JSON too
        assertError(send(get("/orders")), 404, "GET /orders");
    }

    @Test
    void repeatingAnOrderWithTheSameIdempotencyKeyReturnsTheSameOrder() throws Exception {
        HttpResponse<String> first = send(order("4", "order-same-key", "{\"productId\": 5, \"quantity\": 2}"));
        assertThat(first.statusCode()).as(first.body()).isEqualTo(201);
        JsonNode placed = JSON.readTree(first.body());
        assertThat(placed.get("quantity").asInt()).isEqualTo(2);
        assertThat(placed.get("status").asText()).isEqualTo("pending");
        assertThat(first.headers().firstValue("Consistency-Token")).isPresent();
        assertThat(first.headers().allValues("Set-Cookie"))
                .anySatisfy(c -> assertThat(c).startsWith("consistency-token="));

        HttpResponse<String> again = send(order("4", "order-same-key", "{\"productId\": 5, \"quantity\": 2}"));
        assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
        JsonNode replayed = JSON.readTree(again.body());
        assertThat(replayed.get("id").asLong()).isEqualTo(placed.get("id").asLong());
        assertThat(replayed.get("totalCents").asLong())
                .isEqualTo(placed.get("totalCents").asLong());

        assertError(
                send(order("4", "order-same-key", "{\"productId\": 6, \"quantity\": 2}")),
                422,
                "already used for a different order request");

        // its one confirmation job runs and confirms it
        String token = first.headers().firstValue("Consistency-Token").orElseThrow();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            HttpResponse<String> read = send(get("/orders/" + placed.get("id").asLong())
                    .header("Tenant-Id", "4")
                    .header("Consistency-Token", token));
            assertThat(JSON.readTree(read.body()).get("status").asText()).isEqualTo("confirmed");
        });
    }

    @Test
    void anOrderBelongsToTheApiKeyThatPlacedItAndKeysTheShopDidNotIssueAreRefused() throws Exception {
        String body = "{\"productId\": 3, \"quantity\": 1}";
        HttpResponse<String> mine = send(order("6", "order-owned", body));
        assertThat(mine.statusCode()).as(mine.body()).isEqualTo(201);
        long id = JSON.readTree(mine.body()).get("id").asLong();
        String token = mine.headers().firstValue("Consistency-Token").orElseThrow();

        // another client choosing the same idempotency key places an order of its own; it neither
        // gets this one back nor a 422 that tells it the key is taken
        HttpResponse<String> theirs = send(order("6", "order-owned", body).setHeader("Api-Key", "demo-2"));
        assertThat(theirs.statusCode()).as(theirs.body()).isEqualTo(201);
        assertThat(JSON.readTree(theirs.body()).get("id").asLong()).isNotEqualTo(id);

        // only the owner reads it; to anyone else it does not exist
        HttpResponse<String> read =
                send(get("/orders/" + id).header("Tenant-Id", "6").header("Consistency-Token", token));
        assertThat(read.statusCode()).as(read.body()).isEqualTo(200);
        assertError(
                send(get("/orders/" + id)
                        .setHeader("Api-Key", "demo-2")
                        .header("Tenant-Id", "6")
                        .header("Consistency-Token", token)),
                404,
                "tenant 6 has no order " + id);

        // anonymous callers and minted keys: from 127.0.0.2, whose anonymous bucket no other test
        // uses (each of the next four requests takes a permit of it before it is refused)
        RawResponse anonymousRead = fromElsewhere("GET /orders/" + id, "Tenant-Id: 6", "");
        assertThat(anonymousRead.status()).as(anonymousRead.body()).isEqualTo(401);
        assertThat(anonymousRead.body()).contains("orders need an Api-Key");
        RawResponse anonymousOrder = fromElsewhere(
                "POST /orders",
                "Tenant-Id: 6\r\nIdempotency-Key: anonymous-order\r\nContent-Type: application/json",
                body);
        assertThat(anonymousOrder.status()).as(anonymousOrder.body()).isEqualTo(401);
        assertThat(anonymousOrder.body()).contains("orders need an Api-Key");
        RawResponse minted = fromElsewhere("GET /products/1", "Api-Key: minted-by-the-client", "");
        assertThat(minted.status()).as(minted.body()).isEqualTo(401);
        assertThat(minted.body()).contains("unknown Api-Key: this shop did not issue it");
        assertThat(minted.head())
                .as("a minted key draws on its address's anonymous limit")
                .contains("RateLimit: \"anonymous\";r=" + (ANONYMOUS_PER_MINUTE - 3) + ";");
        // a malformed key is limited like any other anonymous request before its 400
        RawResponse malformed = fromElsewhere("GET /products/1", "Api-Key: not a key", "");
        assertThat(malformed.status()).as(malformed.body()).isEqualTo(400);
        assertThat(malformed.body()).contains("Api-Key must be");
        assertThat(malformed.head()).contains("RateLimit: \"anonymous\";r=" + (ANONYMOUS_PER_MINUTE - 4) + ";");

        // HEAD would run no handler, so no owner check: it is refused
        HttpResponse<String> head =
                send(get("/orders/" + id).header("Tenant-Id", "6").method("HEAD", HttpRequest.BodyPublishers.noBody()));
        assertThat(head.statusCode()).isEqualTo(405);
        assertThat(head.headers().firstValue("Allow")).hasValue("GET");
    }

    @Test
    void concurrentRequestsWithOneIdempotencyKeyCreateOneOrder() throws Exception {
        int clients = 8;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        List<Future<HttpResponse<String>>> responses = new ArrayList<>();
        try {
            for (int i = 0; i < clients; i++) {
                responses.add(pool.submit(() -> {
                    start.await();
                    return send(order("7", "order-raced", "{\"productId\": 8, \"quantity\": 1}"));
                }));
            }
            start.countDown();
            List<Long> ids = new ArrayList<>();
            int created = 0;
            for (Future<HttpResponse<String>> response : responses) {
                HttpResponse<String> r = response.get();
                assertThat(r.statusCode()).as(r.body()).isIn(200, 201);
                created += r.statusCode() == 201 ? 1 : 0;
                ids.add(JSON.readTree(r.body()).get("id").asLong());
            }
            assertThat(created).as("responses that created the order").isEqualTo(1);
            assertThat(ids).as("order ids").containsOnly(ids.get(0));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anOrderWithoutAValidIdempotencyKeyOrBodyIsRefusedWithAMessage() throws Exception {
        String body = "{\"productId\": 5, \"quantity\": 1}";
        assertError(
                send(get("/orders").POST(HttpRequest.BodyPublishers.ofString(body))),
                400,
                "the Idempotency-Key header is required");
        assertError(send(order("1", "k".repeat(65), body)), 400, "Idempotency-Key must be 1-64 printable ASCII");
        assertError(send(order("1", "malformed", "{\"productId\": ")), 400, "the body must be JSON like");
        assertError(send(order("1", "unknown-field", "{\"sku\": 5}")), 400, "the body must be JSON like");
        assertError(send(order("1", "zero", "{\"productId\": 5, \"quantity\": 0}")), 400, "quantity must be 1..100");
        assertError(
                send(order("1", "no-such-product", "{\"productId\": 999999, \"quantity\": 1}")),
                422,
                "tenant 1 has no product 999999");
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aShopThatStopsWithReplicaReplayPausedResumesIt() throws Exception {
        ShopApp second = ShopApp.start(config);
        try {
            HttpResponse<String> paused = HTTP.send(
                    HttpRequest.newBuilder(URI.create(
                                    "http://127.0.0.1:" + second.port() + "/admin/replica-replay?state=paused"))
                            .header("Api-Key", "demo-1")
                            .timeout(Duration.ofSeconds(30))
                            .POST(HttpRequest.BodyPublishers.noBody())
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(paused.statusCode()).as(paused.body()).isEqualTo(200);
            assertThat(replica.isReplayPaused()).isTrue();
        } finally {
            second.close();
        }
        try {
            // the whole replica server was paused, for every database on it: stopping the shop resumes it
            assertThat(replica.isReplayPaused()).isFalse();
        } finally {
            replica.resumeReplay();
        }
    }

    @Test
    void orderBodiesAndIdsAreRefusedRatherThanQuietlyConverted() throws Exception {
        for (String body : List.of(
                "{\"productId\": 5, \"quantity\": 2.7}",
                "{\"productId\": 5, \"quantity\": \"2\"}",
                "{\"productId\": 5, \"quantity\": 1.0e1}",
                "{\"productId\": 1.9, \"quantity\": 1}",
                "{\"productId\": 5}",
                "{\"productId\": 5, \"quantity\": null}",
                "{\"productId\": 5, \"quantity\": 2} {\"x\": 1}")) {
            assertError(
                    send(order("1", "coerced-" + Math.abs(body.hashCode()), body)), 400, "the body must be JSON like");
        }
        for (String id : List.of("+7", "0001x", "%D9%A1%D9%A0", "%EF%BC%91")) { // +7, x, Arabic-Indic 10, fullwidth 1
            assertThat(send(get("/products/" + id)).statusCode()).as(id).isEqualTo(400);
        }
    }

    @Test
    void aBrowserSentHereByAnotherSiteCannotUseTheAdminEndpoints() throws Exception {
        HttpResponse<String> crossSite =
                send(admin("/admin/confirmation-failure-rate?value=1").header("Origin", "http://evil.example"));
        assertError(crossSite, 403, "loopback host from this machine");
        HttpResponse<String> fetchMarked =
                send(admin("/admin/confirmation-failure-rate?value=1").header("Sec-Fetch-Site", "cross-site"));
        assertError(fetchMarked, 403, "loopback host from this machine");
        HttpResponse<String> sameOrigin = send(
                admin("/admin/confirmation-failure-rate?value=0").header("Origin", "http://127.0.0.1:" + app.port()));
        assertThat(sameOrigin.statusCode()).as(sameOrigin.body()).isEqualTo(200);
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aClientReadsItsOwnOrderWhileTheAdminEndpointHasReplicaReplayPaused() throws Exception {
        await("every shard's replica serving").atMost(Duration.ofSeconds(30)).until(() -> {
            JsonNode shards = JSON.readTree(send(get("/health")).body()).get("shards");
            for (JsonNode shard : shards) {
                if (shard.get("replicasServing").asInt() != 1) {
                    return false;
                }
            }
            return true;
        });
        assertThat(send(admin("/admin/replica-replay?state=paused")).statusCode())
                .isEqualTo(200);
        try {
            assertThat(replica.isReplayPaused()).isTrue();
            HttpResponse<String> placed = send(order("5", "ryw-1", "{\"productId\": 9, \"quantity\": 3}"));
            assertThat(placed.statusCode()).as(placed.body()).isEqualTo(201);
            long id = JSON.readTree(placed.body()).get("id").asLong();
            String token = placed.headers().firstValue("Consistency-Token").orElseThrow();

            HttpResponse<String> withToken =
                    send(get("/orders/" + id).header("Tenant-Id", "5").header("Consistency-Token", token));
            assertThat(withToken.statusCode()).as(withToken.body()).isEqualTo(200);
            assertThat(JSON.readTree(withToken.body()).get("id").asLong()).isEqualTo(id);

            HttpResponse<String> withCookie =
                    send(get("/orders/" + id).header("Tenant-Id", "5").header("Cookie", "consistency-token=" + token));
            assertThat(withCookie.statusCode()).as(withCookie.body()).isEqualTo(200);

            // a blank or malformed header does not hide the cookie's token
            for (String header : List.of("", "not-a-token")) {
                HttpResponse<String> both = send(get("/orders/" + id)
                        .header("Tenant-Id", "5")
                        .header("Consistency-Token", header)
                        .header("Cookie", "consistency-token=" + token));
                assertThat(both.statusCode())
                        .as("header '" + header + "': " + both.body())
                        .isEqualTo(200);
            }

            // without the token the read goes to the paused replica, which has not seen the order
            assertError(send(get("/orders/" + id).header("Tenant-Id", "5")), 404, "tenant 5 has no order " + id);
        } finally {
            assertThat(send(admin("/admin/replica-replay?state=running")).statusCode())
                    .isEqualTo(200);
            replica.resumeReplay(); // harmless if resumed: no later test may find it paused
        }
        assertThat(replica.isReplayPaused()).isFalse();
    }

    @Test
    void anAnonymousCallerPastItsLimitGets429WithRateLimitHeadersWhileAnApiKeyIsStillServed() throws Exception {
        for (int i = 0; i < ANONYMOUS_PER_MINUTE; i++) {
            HttpResponse<String> ok = send(anonymous("/products/1"));
            assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
            assertThat(ok.headers().firstValue("RateLimit-Policy")).hasValue("\"anonymous\";q=5;w=60");
            String remaining = "\"anonymous\";r=" + (ANONYMOUS_PER_MINUTE - 1 - i) + ";t=";
            assertThat(ok.headers().firstValue("RateLimit"))
                    .hasValueSatisfying(v -> assertThat(v).startsWith(remaining));
        }
        HttpResponse<String> refused = send(anonymous("/products/1"));
        assertError(refused, 429, "anonymous rate limit (send an Api-Key for more) exceeded");
        assertThat(refused.headers().firstValue("Retry-After")).isPresent();
        assertThat(Long.parseLong(refused.headers().firstValue("Retry-After").orElseThrow()))
                .isBetween(1L, 60L);
        assertThat(refused.headers().firstValue("RateLimit"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("\"anonymous\";r=0;"));

        HttpResponse<String> withKey = send(get("/products/1"));
        assertThat(withKey.statusCode()).isEqualTo(200);
        assertThat(withKey.headers().firstValue("RateLimit-Policy")).hasValue("\"api-key\";q=10000;w=1");
    }

    @Test
    void declinedConfirmationsBecomeDeadLettersThatTheAdminEndpointReplays() throws Exception {
        assertThat(send(admin("/admin/confirmation-failure-rate?value=1")).statusCode())
                .isEqualTo(200);
        try {
            HttpResponse<String> placed = send(order("6", "declined-1", "{\"productId\": 3, \"quantity\": 1}"));
            assertThat(placed.statusCode()).as(placed.body()).isEqualTo(201);
            long id = JSON.readTree(placed.body()).get("id").asLong();
            String payload = "6:" + id;

            await("the declined confirmation is a dead letter")
                    .atMost(Duration.ofSeconds(30))
                    .until(() -> deadLetterPayloads().contains(payload));
            JsonNode letter = deadLetter(payload);
            assertThat(letter.get("attempts").asInt()).isEqualTo(2);
            assertThat(letter.get("lastError").asText()).contains("payment provider declined order " + id);

            assertThat(send(admin("/admin/confirmation-failure-rate?value=0")).statusCode())
                    .isEqualTo(200);
            HttpResponse<String> replay = send(admin("/admin/dead-letters/replay"));
            assertThat(JSON.readTree(replay.body()).get("replayed").asInt()).isGreaterThanOrEqualTo(1);
            await("the replayed confirmation confirms the order")
                    .atMost(Duration.ofSeconds(30))
                    .untilAsserted(() -> assertThat(JSON.readTree(send(get("/orders/" + id)
                                                    .header("Tenant-Id", "6")
                                                    .header(
                                                            "Consistency-Token",
                                                            placed.headers()
                                                                    .firstValue("Consistency-Token")
                                                                    .orElseThrow()))
                                            .body())
                                    .get("status")
                                    .asText())
                            .isEqualTo("confirmed"));
            assertThat(deadLetterPayloads()).doesNotContain(payload);
        } finally {
            app.setConfirmationFailureRate(0);
        }
        assertError(send(admin("/admin/confirmation-failure-rate?value=2")), 400, "value must be a number from 0 to 1");
    }

    @Test
    void metricsHealthAndTheDashboardAnswer() throws Exception {
        send(get("/products/1")); // some traffic to count

        HttpResponse<String> metrics = send(get("/metrics"));
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body())
                .contains("headroom_cache_gets")
                .contains("headroom_db_connections")
                .contains("headroom_ratelimit_decisions")
                .contains("headroom_queue_depth")
                .contains("shop_catalog_reads")
                .contains("shop_http_requests_seconds");

        HttpResponse<String> health = send(get("/health"));
        assertThat(health.statusCode()).isEqualTo(200);
        JsonNode h = JSON.readTree(health.body());
        assertThat(h.get("status").asText()).isEqualTo("UP");
        assertThat(h.get("redis").asText()).isEqualTo("up");
        assertThat(h.get("shards")).hasSize(4);

        HttpResponse<String> page = send(get("/dashboard"));
        assertThat(page.statusCode()).isEqualTo(200);
        assertThat(page.headers().firstValue("Content-Type"))
                .hasValueSatisfying(v -> assertThat(v).startsWith("text/html"));
        assertThat(page.body()).contains("<canvas").contains("/dashboard/data");

        JsonNode data = JSON.readTree(send(get("/dashboard/data")).body());
        assertThat(data.get("requests").asLong()).isPositive();
        assertThat(data.get("cacheGets").size()).isPositive();
        assertThat(data.get("connections").size()).isPositive();
        assertThat(data.has("p99Ms")).isTrue();
        assertThat(data.has("queueDepth")).isTrue();
        assertThat(data.get("limiter").size()).isPositive();
    }

    private static double productReads() {
        return app.meterRegistry()
                .get("shop.catalog.reads")
                .tag("what", "product")
                .counter()
                .count();
    }

    private static List<String> deadLetterPayloads() throws Exception {
        List<String> payloads = new ArrayList<>();
        for (JsonNode letter :
                JSON.readTree(send(get("/admin/dead-letters")).body()).get("deadLetters")) {
            payloads.add(letter.get("payload").asText());
        }
        return payloads;
    }

    private static JsonNode deadLetter(String payload) throws Exception {
        for (JsonNode letter :
                JSON.readTree(send(get("/admin/dead-letters")).body()).get("deadLetters")) {
            if (letter.get("payload").asText().equals(payload)) {
                return letter;
            }
        }
        throw new AssertionError("no dead letter " + payload);
    }

    private static void assertError(HttpResponse<String> response, int status, String message) throws IOException {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        JsonNode error = JSON.readTree(response.body());
        assertThat(error.get("status").asInt()).isEqualTo(status);
        assertThat(error.get("error").asText()).contains(message);
    }

    /** A request with an API key of its own (the generous tier), so tests do not share the anonymous limit. */
    private static HttpRequest.Builder get(String path) {
        return anonymous(path).header("Api-Key", "demo-1");
    }

    private static HttpRequest.Builder anonymous(String path) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + path))
                .timeout(Duration.ofSeconds(30));
    }

    /** A response read off a socket: status, the head's lines and the body. */
    private record RawResponse(int status, String head, String body) {}

    /**
     * One HTTP/1.1 request from 127.0.0.2 (the JDK 17 client cannot choose its local address): the
     * shop sees another remote address, so another anonymous rate-limit bucket.
     */
    private static RawResponse fromElsewhere(String requestLine, String headers, String body) throws IOException {
        byte[] content = body.getBytes(StandardCharsets.UTF_8);
        try (Socket socket =
                new Socket(InetAddress.getLoopbackAddress(), app.port(), InetAddress.getByName("127.0.0.2"), 0)) {
            socket.setSoTimeout(30_000);
            String request = requestLine + " HTTP/1.1\r\nHost: 127.0.0.1:" + app.port() + "\r\nConnection: close\r\n"
                    + (headers.isEmpty() ? "" : headers + "\r\n") + "Content-Length: " + content.length + "\r\n\r\n";
            OutputStream out = socket.getOutputStream();
            out.write(request.getBytes(StandardCharsets.US_ASCII));
            out.write(content);
            out.flush();
            String response = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int split = response.indexOf("\r\n\r\n");
            String head = split < 0 ? response : response.substring(0, split);
            int status = Integer.parseInt(head.substring(9, 12));
            return new RawResponse(status, head, split < 0 ? "" : response.substring(split + 4));
        }
    }

    private static HttpRequest.Builder order(String tenant, String idempotencyKey, String body) {
        return get("/orders")
                .header("Tenant-Id", tenant)
                .header("Idempotency-Key", idempotencyKey)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
    }

    private static HttpRequest.Builder admin(String path) {
        return get(path).POST(HttpRequest.BodyPublishers.noBody());
    }

    private static HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
