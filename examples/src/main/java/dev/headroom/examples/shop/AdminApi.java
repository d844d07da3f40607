package dev.headroom.examples.shop;

import dev.headroom.queue.DeadLetter;
import dev.headroom.queue.DeadLetterFilter;
import dev.headroom.queue.JobError;
import io.javalin.http.Context;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Operator endpoints under {@code /admin}: the confirmation dead letters of every shard (list,
 * replay), the confirmation failure rate, pausing the replicas' replay, and the recommendation
 * service's latency and failure fraction, and cutting the link to Redis. They answer loopback callers only. Thread-safe.
 */
final class AdminApi {

    private static final Pattern IPV4 = Pattern.compile("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    private static final Pattern ORIGIN = Pattern.compile("https?://([^/]+)");
    private static final Pattern IPV6 = Pattern.compile("\\[?[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*]?");

    private final ShopShards shards;
    private final Confirmations confirmations;
    private final List<String> replicaServers;
    private final RecommendationService recommendations;
    private final RedisLink redisLink;
    /** Whether this shop paused the replicas' replay (and must resume it when it stops). */
    private volatile boolean pausedByUs;

    /**
     * @param replicaUrls the shards' replica URLs; replay is paused per server, so one URL per
     *     server ({@code host:port}) is kept
     */
    AdminApi(
            ShopShards shards,
            Confirmations confirmations,
            List<String> replicaUrls,
            RecommendationService recommendations,
            RedisLink redisLink) {
        this.shards = shards;
        this.redisLink = redisLink;
        this.recommendations = recommendations;
        this.confirmations = confirmations;
        Map<String, String> byServer = new LinkedHashMap<>();
        for (String url : replicaUrls) {
            int slash = url.indexOf('/', "jdbc:postgresql://".length());
            byServer.putIfAbsent(slash < 0 ? url : url.substring(0, slash), url);
        }
        this.replicaServers = List.copyOf(byServer.values());
    }

    /** Refuses every caller that is not on this machine (403). */
    static void loopbackOnly(Context ctx) {
        if (!isLoopback(ctx.req().getRemoteAddr())) {
            throw new ApiError(403, "admin endpoints answer loopback callers only");
        }
        // a loopback peer may still be a browser on this machine sent by another site (a forged
        // form post, or DNS rebinding to 127.0.0.1): only requests addressed to a loopback name, and
        // not sent cross-site, are admitted
        if (!addressedFromThisMachine(ctx.header("Host"), ctx.header("Origin"), ctx.header("Sec-Fetch-Site"))) {
            throw new ApiError(403, "admin endpoints answer requests to a loopback host from this machine only");
        }
    }

    /**
     * Whether a request's {@code Host}, {@code Origin} (if any) and {@code Sec-Fetch-Site} (if any)
     * say it was addressed to this machine by this machine: the host is {@code localhost} or a
     * loopback literal, any origin names such a host too, and a browser did not mark it cross-site.
     */
    static boolean addressedFromThisMachine(
            @Nullable String host, @Nullable String origin, @Nullable String fetchSite) {
        if (host == null || !isLoopbackHost(stripPort(host))) {
            return false;
        }
        if (origin != null) {
            Matcher m = ORIGIN.matcher(origin);
            if (!m.matches() || !isLoopbackHost(stripPort(m.group(1)))) {
                return false;
            }
        }
        return fetchSite == null || fetchSite.equals("same-origin") || fetchSite.equals("none");
    }

    private static boolean isLoopbackHost(String host) {
        return host.equalsIgnoreCase("localhost") || isLoopback(host);
    }

    private static String stripPort(String hostAndPort) {
        if (hostAndPort.startsWith("[")) {
            int end = hostAndPort.indexOf(']');
            return end < 0 ? hostAndPort : hostAndPort.substring(0, end + 1);
        }
        int colon = hostAndPort.indexOf(':');
        return colon < 0 ? hostAndPort : hostAndPort.substring(0, colon);
    }

    /** Whether a peer's IP address (as the servlet reports it, a literal) is a loopback address. */
    static boolean isLoopback(String address) {
        if (!IPV4.matcher(address).matches() && !IPV6.matcher(address).matches()) {
            return false; // not an IP literal: never resolve a name here
        }
        try {
            return InetAddress.getByName(address).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** {@code GET /admin/dead-letters}: the oldest 100 of each shard, with their last error. */
    void deadLetters(Context ctx) {
        List<Map<String, Object>> letters = new ArrayList<>();
        for (ShopShards.Shard shard : shards.all()) {
            for (DeadLetter letter : shard.queue().deadLetters().list(DeadLetterFilter.all(), 100)) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("shard", shard.name());
                json.put("jobId", letter.id().value());
                json.put("type", letter.type());
                json.put("payload", new String(letter.payload(), StandardCharsets.UTF_8));
                json.put("attempts", letter.attempts());
                json.put("deadAt", letter.deadAt().toString());
                List<JobError> errors = letter.errors();
                json.put(
                        "lastError",
                        errors.isEmpty() ? "" : errors.get(errors.size() - 1).message());
                letters.add(json);
            }
        }
        ctx.json(Map.of("deadLetters", letters));
    }

    /** {@code POST /admin/dead-letters/replay}: every shard's dead letters back to their queue. */
    void replay(Context ctx) {
        int replayed = 0;
        for (ShopShards.Shard shard : shards.all()) {
            replayed += shard.queue().deadLetters().replay(DeadLetterFilter.all());
        }
        ctx.json(Map.of("replayed", replayed));
    }

    /**
     * {@code POST /admin/replica-replay?state=paused} (or {@code running}): pauses or resumes WAL
     * replay on every replica server, so reads without a token go stale while reads with one still
     * see their writes. Pausing answers once the servers report replay paused.
     */
    void replicaReplay(Context ctx) throws SQLException {
        String state = ctx.queryParam("state");
        boolean pause = "paused".equals(state);
        if (!pause && !"running".equals(state)) {
            throw new ApiError(400, "state must be 'paused' or 'running', got '" + state + "'");
        }
        if (replicaServers.isEmpty()) {
            throw new ApiError(409, "the shop runs without a replica");
        }
        if (pause) {
            pausedByUs = true; // set first: a failure half-way still resumes on close
            try {
                setReplay(true);
            } catch (SQLException | RuntimeException e) {
                setReplay(false); // never leave some servers paused and others not
                pausedByUs = false;
                throw e;
            }
        } else {
            setReplay(false);
            pausedByUs = false;
        }
        ctx.json(Map.of("replicaReplay", state));
    }

    private void setReplay(boolean pause) throws SQLException {
        for (String url : replicaServers) {
            try (Connection c = DriverManager.getConnection(url);
                    Statement s = c.createStatement()) {
                s.execute(pause ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (pause && !paused(s)) {
                    if (System.nanoTime() > deadline) {
                        throw new ApiError(504, "the replica did not report replay paused within 10 s");
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10)); // the server pauses at its next record
                }
            }
        }
    }

    /**
     * Resumes replay if this shop paused it: pausing affects the whole replica server (every database
     * on it), so a shop that stops must not leave it paused.
     */
    void resumeReplayIfPaused() throws SQLException {
        if (pausedByUs) {
            setReplay(false);
            pausedByUs = false;
        }
    }

    private static boolean paused(Statement s) throws SQLException {
        try (ResultSet rs = s.executeQuery("SELECT pg_get_wal_replay_pause_state()")) {
            return rs.next() && "paused".equals(rs.getString(1));
        }
    }

    /** {@code POST /admin/confirmation-failure-rate?value=0.2}: the fraction of declined orders. */
    void failureRate(Context ctx) {
        double rate = fraction(ctx);
        confirmations.setFailureRate(rate);
        ctx.json(Map.of("confirmationFailureRate", rate));
    }

    /**
     * {@code POST /admin/recommendations/latency?ms=400}: how long each call to the recommendation
     * service takes from now on (0..60000 ms); past the guard's timeout, answers become fallbacks.
     */
    void recommendationLatency(Context ctx) {
        String value = ctx.queryParam("ms");
        long ms = value != null && ShopApi.WHOLE_NUMBER.matcher(value).matches() ? Long.parseLong(value) : -1;
        if (ms < 0 || ms > 60_000) {
            throw new ApiError(400, "ms must be a whole number from 0 to 60000, got '" + value + "'");
        }
        recommendations.setLatency(Duration.ofMillis(ms));
        ctx.json(Map.of("recommendationLatencyMs", ms));
    }

    /** {@code POST /admin/recommendations/failure-fraction?value=0.5}: the share of failing calls. */
    void recommendationFailures(Context ctx) {
        double fraction = fraction(ctx);
        recommendations.setFailureFraction(fraction);
        ctx.json(Map.of("recommendationFailureFraction", fraction));
    }

    /**
     * {@code POST /admin/redis?state=cut} (or {@code connected}): cuts the shop's link to Redis, as
     * a network partition would, or restores it. While cut, product reads are served from the L1
     * cache and the database, and rate limits fall back to each instance's local limits.
     */
    void redisLink(Context ctx) {
        String state = ctx.queryParam("state");
        if ("cut".equals(state)) {
            redisLink.cut();
        } else if ("connected".equals(state)) {
            redisLink.restore();
        } else {
            throw new ApiError(400, "state must be 'cut' or 'connected', got '" + state + "'");
        }
        ctx.json(Map.of("redis", state));
    }

    private static double fraction(Context ctx) {
        String value = ctx.queryParam("value");
        double rate;
        try {
            rate = Double.parseDouble(value == null ? "" : value);
        } catch (NumberFormatException e) {
            rate = Double.NaN;
        }
        if (!(rate >= 0 && rate <= 1)) {
            throw new ApiError(400, "value must be a number from 0 to 1, got '" + value + "'");
        }
        return rate;
    }
}
