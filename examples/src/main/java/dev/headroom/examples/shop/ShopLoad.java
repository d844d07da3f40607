package dev.headroom.examples.shop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A bounded load scenario over loopback ({@code scripts/demo-load}): well-behaved clients, each
 * with its own API key at a steady rate, browse a skewed catalog and now and then place an order
 * and read it straight back with its consistency token; one abusive key sends as fast as it can.
 * The report: requests, latency percentiles of the well-behaved clients, 429s of the abusive key
 * against the others', catalog requests against database reads, stale read-your-writes reads
 * (must be 0) and dead letters. Beside them, a recommendation crowd (three clients per
 * criticality: critical, default, sheddable, 10 requests/s each) calls {@code
 * /products/{id}/recommendations}; in the middle third of the run the recommendation service is
 * slowed to {@value #SLOW_MS} ms, so the guard's bulkhead fills and sheds SHEDDABLE callers first,
 * then DEFAULT, while CRITICAL ones are still served. The report adds the answers by criticality
 * (live, fallback by reason) and the guard's rejections by reason. Not thread-safe: one run at a
 * time.
 */
public final class ShopLoad {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The recommendation service's latency in the middle third: below the timeout, above the pace. */
    static final long SLOW_MS = 150;

    private static final List<String> CRITICALITIES = List.of("critical", "default", "sheddable");

    // the load sends the shop's demo keys (ShopConfig.DEMO_API_KEYS): a shop started with other
    // SHOP_API_KEYS refuses them with 401
    private static final int MAX_CLIENTS = 15;
    private static final String ABUSIVE_KEY = "demo-abuser";
    // the abusive client sends on several connections at once, as fast as each gets answers
    private static final int ABUSIVE_THREADS = 4;
    private static final Map<String, String> CROWD_KEYS =
            Map.of("critical", "demo-checkout", "default", "demo-16", "sheddable", "demo-batch");

    /** Well-behaved client {@code client}'s key: one of its own, demo-1 .. demo-15. */
    private static String wellBehavedKey(int client) {
        return "demo-" + (client + 1);
    }

    /** What a run saw. */
    public record Report(
            Duration duration,
            long requests,
            Map<Integer, Long> byStatus,
            double p50Ms,
            double p95Ms,
            double p99Ms,
            long wellBehaved429s,
            long abusiveRequests,
            long abusive429s,
            long ordersReadBack,
            long staleReads,
            long productRequests,
            long productDatabaseReads,
            long deadLetters,
            Map<String, Map<String, Long>> recommendationsByCriticality,
            Map<String, Double> guardRejections) {

        @Override
        public String toString() {
            return String.format(
                    java.util.Locale.ROOT,
                    "requests:          %,d in %d s (%,.0f/s), by status %s%n"
                            + "latency:           p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (well-behaved clients)%n"
                            + "rate limits:       abusive key %,d requests, %,d refused (429); well-behaved clients %,d refused%n"
                            + "catalog:           %,d product requests, %,d database reads (loader calls)%n"
                            + "read-your-writes:  %,d orders read back right after writing, %,d stale (must be 0)%n"
                            + "dead letters:      %,d (declined confirmations that used up their attempts so far)%n"
                            + "recommendations:   by criticality, live or fallback:reason (service slowed to "
                            + SLOW_MS + " ms in the middle third)%n%s"
                            + "guard rejections:  by reason/criticality %s",
                    requests,
                    duration.toSeconds(),
                    requests / Math.max(1e-9, duration.toMillis() / 1000.0),
                    byStatus,
                    p50Ms,
                    p95Ms,
                    p99Ms,
                    abusiveRequests,
                    abusive429s,
                    wellBehaved429s,
                    productRequests,
                    productDatabaseReads,
                    ordersReadBack,
                    staleReads,
                    deadLetters,
                    byCriticality(),
                    guardRejections);
        }

        private String byCriticality() {
            StringBuilder lines = new StringBuilder();
            recommendationsByCriticality.forEach((criticality, answers) -> {
                long all = answers.values().stream().mapToLong(Long::longValue).sum();
                long live = answers.getOrDefault("live", 0L);
                lines.append(String.format(
                        java.util.Locale.ROOT,
                        "  %-10s %,6d requests, %5.1f%% live, %s%n",
                        criticality,
                        all,
                        all == 0 ? 0 : 100.0 * live / all,
                        answers));
            });
            return lines.toString();
        }
    }

    private final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final String base;
    private final Map<Integer, AtomicLong> byStatus = new ConcurrentHashMap<>();
    private final AtomicLong wellBehaved429s = new AtomicLong();
    private final AtomicLong abusiveRequests = new AtomicLong();
    private final AtomicLong abusive429s = new AtomicLong();
    private final AtomicLong ordersReadBack = new AtomicLong();
    private final AtomicLong staleReads = new AtomicLong();
    private final Map<String, Map<String, AtomicLong>> recommendations = new ConcurrentHashMap<>();

    private ShopLoad(String base) {
        this.base = base;
    }

    /** Starts the shop from the {@code SHOP_*} environment on a free port and runs the scenario. */
    public static void main(String[] args) throws Exception {
        Duration duration = Duration.ofSeconds(args.length > 0 ? Long.parseLong(args[0]) : 20);
        int clients = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        ShopConfig config = ShopConfig.fromEnvironment(System.getenv()).withPort(0);
        ShopApp.createMissingDatabases(config);
        Report report;
        try (ShopApp app = ShopApp.start(config)) {
            report = run(app, duration, clients, 40, 2026);
        }
        System.out.println(report);
        System.exit(report.staleReads() == 0 ? 0 : 1);
    }

    /**
     * Runs the scenario against a started shop.
     *
     * @param clients how many well-behaved clients, 1..15 (one thread and one demo API key each)
     * @param perSecond each well-behaved client's request rate
     * @param seed the seed of the clients' choices
     */
    public static Report run(ShopApp app, Duration duration, int clients, int perSecond, long seed)
            throws InterruptedException {
        if (clients < 1 || clients > MAX_CLIENTS) {
            throw new IllegalArgumentException("clients must be 1.." + MAX_CLIENTS
                    + " (each sends a demo API key of its own, demo-1 .. demo-" + MAX_CLIENTS + "), got " + clients);
        }
        ShopLoad load = new ShopLoad("http://127.0.0.1:" + app.port());
        MeterRegistry registry = app.meterRegistry();
        double productRequestsBefore = count(registry, "shop.http.requests", "products.get");
        double readsBefore = registry.get("shop.catalog.reads")
                .tag("what", "product")
                .counter()
                .count();
        double deadBefore = sum(registry, "headroom.queue.dead_lettered");

        Map<String, Double> rejectionsBefore = rejections(registry);
        long begin = System.nanoTime();
        long end = begin + duration.toNanos();
        int crowd = CRITICALITIES.size() * 3;
        CountDownLatch done = new CountDownLatch(clients + ABUSIVE_THREADS + crowd);
        long[][] latencies = new long[clients][];
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            int client = i;
            threads.add(new Thread(
                    () -> {
                        try {
                            latencies[client] = load.wellBehaved(client, perSecond, end, seed + client);
                        } finally {
                            done.countDown();
                        }
                    },
                    "load-client-" + i));
        }
        for (int i = 0; i < ABUSIVE_THREADS; i++) {
            threads.add(new Thread(
                    () -> {
                        try {
                            load.abusive(end);
                        } finally {
                            done.countDown();
                        }
                    },
                    "load-abusive-" + i));
        }
        for (int i = 0; i < crowd; i++) {
            String criticality = CRITICALITIES.get(i % CRITICALITIES.size());
            long crowdSeed = seed + 1000 + i;
            threads.add(new Thread(
                    () -> {
                        try {
                            load.recommendationCrowd(criticality, end, crowdSeed);
                        } finally {
                            done.countDown();
                        }
                    },
                    "load-recommendations-" + criticality + "-" + i));
        }
        RecommendationService service = app.recommendationService();
        Duration healthyLatency = service.latency();
        long started = System.nanoTime();
        threads.forEach(Thread::start);
        // the middle third: a slow dependency
        LockSupport.parkNanos(duration.toNanos() / 3);
        service.setLatency(Duration.ofMillis(SLOW_MS));
        LockSupport.parkNanos(duration.toNanos() / 3);
        service.setLatency(healthyLatency);
        done.await();
        Duration took = Duration.ofNanos(System.nanoTime() - started);
        Map<String, Map<String, Long>> answers = new TreeMap<>();
        load.recommendations.forEach((criticality, byAnswer) -> {
            Map<String, Long> counts = new TreeMap<>();
            byAnswer.forEach((answer, n) -> counts.put(answer, n.get()));
            answers.put(criticality, counts);
        });
        Map<String, Double> rejectionsDuring = new TreeMap<>();
        rejections(registry).forEach((key, n) -> {
            double d = n - rejectionsBefore.getOrDefault(key, 0.0);
            if (d > 0) {
                rejectionsDuring.put(key, d);
            }
        });

        long[] all = Arrays.stream(latencies)
                .filter(java.util.Objects::nonNull)
                .flatMapToLong(Arrays::stream)
                .sorted()
                .toArray();
        Map<Integer, Long> statuses = new TreeMap<>();
        load.byStatus.forEach((status, n) -> statuses.put(status, n.get()));
        return new Report(
                took,
                statuses.values().stream().mapToLong(Long::longValue).sum(),
                statuses,
                percentile(all, 0.50),
                percentile(all, 0.95),
                percentile(all, 0.99),
                load.wellBehaved429s.get(),
                load.abusiveRequests.get(),
                load.abusive429s.get(),
                load.ordersReadBack.get(),
                load.staleReads.get(),
                (long) (count(registry, "shop.http.requests", "products.get") - productRequestsBefore),
                (long) (registry.get("shop.catalog.reads")
                                .tag("what", "product")
                                .counter()
                                .count()
                        - readsBefore),
                (long) (sum(registry, "headroom.queue.dead_lettered") - deadBefore),
                answers,
                rejectionsDuring);
    }

    /** One recommendation client of one criticality at 10 requests/s, on random products of tenant 1. */
    private void recommendationCrowd(String criticality, long end, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        long interval = 100_000_000L;
        long next = System.nanoTime();
        Map<String, AtomicLong> answers = recommendations.computeIfAbsent(criticality, c -> new ConcurrentHashMap<>());
        String apiKey = Objects.requireNonNull(CROWD_KEYS.get(criticality), criticality);
        while (next < end) {
            LockSupport.parkNanos(next - System.nanoTime());
            next += interval;
            HttpResponse<String> response =
                    exchange(get("/products/" + (1 + random.nextInt(100)) + "/recommendations", apiKey, "1")
                            .header("X-Criticality", criticality));
            String answer;
            if (response == null || response.statusCode() != 200) {
                answer = "status " + (response == null ? -1 : response.statusCode());
            } else {
                try {
                    JsonNode json = JSON.readTree(response.body());
                    answer = "live".equals(json.get("source").asText())
                            ? "live"
                            : "fallback:" + json.get("reason").asText();
                } catch (IOException e) {
                    answer = "unreadable";
                }
            }
            answers.computeIfAbsent(answer, a -> new AtomicLong()).incrementAndGet();
        }
    }

    private static Map<String, Double> rejections(MeterRegistry registry) {
        Map<String, Double> counts = new TreeMap<>();
        for (var counter : registry.find("headroom.resilience.rejections").counters()) {
            counts.merge(
                    counter.getId().getTag("reason") + "/" + counter.getId().getTag("criticality"),
                    counter.count(),
                    Double::sum);
        }
        return counts;
    }

    /** One client at a steady rate: 80% product reads (half on 10 hot products), 15% lists, 5% orders. */
    private long[] wellBehaved(int client, int perSecond, long end, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        String apiKey = wellBehavedKey(client);
        long interval = 1_000_000_000L / perSecond;
        long next = System.nanoTime();
        long[] latencies = new long[1024];
        int n = 0;
        int orders = 0;
        while (next < end) {
            LockSupport.parkNanos(next - System.nanoTime()); // pacing, not waiting for a result
            next += interval;
            String tenant = Integer.toString(1 + random.nextInt(20));
            double dice = random.nextDouble();
            long start = System.nanoTime();
            int status;
            if (dice < 0.80) {
                int product = random.nextBoolean() ? 1 + random.nextInt(10) : 1 + random.nextInt(100);
                status = send(get("/products/" + product, apiKey, tenant));
            } else if (dice < 0.95) {
                status = send(get("/products", apiKey, tenant));
            } else {
                status = orderAndReadBack(apiKey, tenant, "load-" + seed + "-" + client + "-" + orders++);
            }
            if (status == 429) {
                wellBehaved429s.incrementAndGet();
            }
            if (n == latencies.length) {
                latencies = Arrays.copyOf(latencies, n * 2);
            }
            latencies[n++] = System.nanoTime() - start;
        }
        return Arrays.copyOf(latencies, n);
    }

    /** One key that sends as fast as one thread can, on one product. */
    private void abusive(long end) {
        while (System.nanoTime() < end) {
            abusiveRequests.incrementAndGet();
            if (send(get("/products/1", ABUSIVE_KEY, "1")) == 429) {
                abusive429s.incrementAndGet();
            }
        }
    }

    private int orderAndReadBack(String apiKey, String tenant, String idempotencyKey) {
        HttpResponse<String> placed = exchange(get("/orders", apiKey, tenant)
                .header("Idempotency-Key", idempotencyKey)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"productId\": 3, \"quantity\": 1}")));
        if (placed == null || placed.statusCode() != 201) {
            return placed == null ? -1 : placed.statusCode();
        }
        try {
            long id = JSON.readTree(placed.body()).get("id").asLong();
            String token = placed.headers().firstValue(ShopApi.TOKEN_HEADER).orElse("");
            HttpResponse<String> read =
                    exchange(get("/orders/" + id, apiKey, tenant).header(ShopApi.TOKEN_HEADER, token));
            if (read != null && read.statusCode() == 429) {
                return 429; // refused by the limit, not a read
            }
            ordersReadBack.incrementAndGet();
            JsonNode order = read == null || read.statusCode() != 200 ? null : JSON.readTree(read.body());
            if (order == null || order.get("id").asLong() != id) {
                staleReads.incrementAndGet();
            }
            return placed.statusCode();
        } catch (IOException e) {
            staleReads.incrementAndGet();
            return -1;
        }
    }

    private HttpRequest.Builder get(String path, String apiKey, String tenant) {
        return HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(10))
                .header("Api-Key", apiKey)
                .header("Tenant-Id", tenant);
    }

    private int send(HttpRequest.Builder request) {
        HttpResponse<String> response = exchange(request);
        return response == null ? -1 : response.statusCode();
    }

    private @org.jspecify.annotations.Nullable HttpResponse<String> exchange(HttpRequest.Builder request) {
        try {
            HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
            byStatus.computeIfAbsent(response.statusCode(), s -> new AtomicLong())
                    .incrementAndGet();
            return response;
        } catch (IOException e) {
            byStatus.computeIfAbsent(-1, s -> new AtomicLong()).incrementAndGet();
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static double percentile(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int index = (int) Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1);
        return sorted[Math.max(0, index)] / 1e6;
    }

    private static double count(MeterRegistry registry, String timer, String endpoint) {
        var t = registry.find(timer).tag("endpoint", endpoint).timer();
        return t == null ? 0 : t.count();
    }

    private static double sum(MeterRegistry registry, String name) {
        double sum = 0;
        for (var counter : registry.find(name).counters()) {
            sum += counter.count();
        }
        return sum;
    }
}
