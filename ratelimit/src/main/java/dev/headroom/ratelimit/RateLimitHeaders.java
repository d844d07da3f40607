package dev.headroom.ratelimit;

import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Renders a {@link Decision} as HTTP response fields, framework-neutral: a map from field name to
 * value, in the order to send them.
 *
 * <ul>
 *   <li>{@code RateLimit-Policy} and {@code RateLimit} of draft-ietf-httpapi-ratelimit-headers-11:
 *       one policy item per bandwidth, {@code "name";q=<capacity>;w=<seconds to fill>} (a policy of
 *       several bandwidths names them {@code name}, {@code name-2}, ...), and {@code
 *       "name";r=<remaining>;t=<seconds until full>} for the tightest bandwidth; with a partition
 *       key, {@code ;pk=:<base64>:} on both.
 *   <li>{@code Retry-After} in whole seconds (rounded up, at least 1) when the decision refused.
 *   <li>Optionally the older {@code RateLimit-Limit}, {@code RateLimit-Remaining} and {@code
 *       RateLimit-Reset} (seconds) that many clients still read.
 * </ul>
 *
 * Immutable and thread-safe.
 */
public final class RateLimitHeaders {

    private static final RateLimitHeaders STANDARD = new RateLimitHeaders(false, null);

    private final boolean legacy;
    private final @Nullable String partitionKey;

    private RateLimitHeaders(boolean legacy, @Nullable String partitionKey) {
        this.legacy = legacy;
        this.partitionKey = partitionKey;
    }

    /** The draft-11 fields and {@code Retry-After}. */
    public static RateLimitHeaders standard() {
        return STANDARD;
    }

    /**
     * These renderings plus {@code RateLimit-Limit}, {@code RateLimit-Remaining}, {@code
     * RateLimit-Reset}.
     *
     * @return a renderer
     */
    public RateLimitHeaders withLegacyFields() {
        return new RateLimitHeaders(true, partitionKey);
    }

    /**
     * These renderings with a partition key ({@code pk}, a structured-field byte sequence): tells the
     * client which of its quotas the fields describe without naming it (hash an API key first).
     *
     * @param key 1 to 64 bytes
     * @return a renderer
     */
    public RateLimitHeaders withPartitionKey(byte[] key) {
        Objects.requireNonNull(key, "key");
        if (key.length == 0 || key.length > 64) {
            throw new IllegalArgumentException("partition key must be 1-64 bytes, got " + key.length);
        }
        return new RateLimitHeaders(legacy, Base64.getEncoder().encodeToString(key));
    }

    /**
     * The fields for one decision.
     *
     * @param decision the decision
     * @return field name to value, in sending order
     */
    public Map<String, String> render(Decision decision) {
        Objects.requireNonNull(decision, "decision");
        RateLimitPolicy policy = decision.policy();
        String pk = partitionKey == null ? "" : ";pk=:" + partitionKey + ":";
        StringBuilder policies = new StringBuilder();
        int i = 0;
        for (Bandwidth b : policy.bandwidths()) {
            if (i > 0) {
                policies.append(", ");
            }
            policies.append('"')
                    .append(itemName(policy, i))
                    .append("\";q=")
                    .append(b.capacity())
                    .append(";w=")
                    .append(windowSeconds(b))
                    .append(pk);
            i++;
        }
        long reset = seconds(decision.resetAfter());
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("RateLimit-Policy", policies.toString());
        fields.put(
                "RateLimit",
                "\"" + itemName(policy, policy.bandwidths().indexOf(policy.primary())) + "\";r=" + decision.remaining()
                        + ";t=" + reset + pk);
        if (!decision.allowed()) {
            fields.put("Retry-After", Long.toString(Math.max(1, seconds(decision.retryAfter()))));
        }
        if (legacy) {
            fields.put("RateLimit-Limit", Long.toString(policy.primary().capacity()));
            fields.put("RateLimit-Remaining", Long.toString(decision.remaining()));
            fields.put("RateLimit-Reset", Long.toString(reset));
        }
        return fields;
    }

    private static final long MAX_SECONDS = 999_999_999_999_999L;

    private static String itemName(RateLimitPolicy policy, int index) {
        return index == 0 ? policy.name() : policy.name() + "-" + (index + 1);
    }

    /** The seconds an empty bucket of this bandwidth takes to fill: the window its quota covers. */
    private static long windowSeconds(Bandwidth b) {
        return Math.max(1, seconds(Duration.ofNanos(Math.multiplyExact(b.fillMicros(), 1_000L))));
    }

    /**
     * Whole seconds, rounded up, at most 999,999,999,999,999: the largest integer a structured field
     * may carry (RFC 8941), reached by a retry-after of "never" without wrapping past it.
     */
    private static long seconds(Duration d) {
        long s = d.getSeconds();
        if (s >= MAX_SECONDS) {
            return MAX_SECONDS;
        }
        return d.getNano() > 0 ? s + 1 : s;
    }
}
