package dev.headroom.ratelimit;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The fields against the examples of draft-ietf-httpapi-ratelimit-headers-11. */
class RateLimitHeadersTest {

    private static Decision allowed(RateLimitPolicy p, long remaining, Duration reset) {
        return new Decision(true, remaining, Duration.ZERO, reset, p, false);
    }

    @Test
    void aPolicyWithItsWindowAndTheRemainingQuota() {
        // Section 3.1: RateLimit-Policy: "default";q=100;w=10 / Section 4: RateLimit: "default";r=50;t=30
        RateLimitPolicy p = RateLimitPolicy.of("default", Bandwidth.perPeriod(100, Duration.ofSeconds(10)));
        Map<String, String> fields = RateLimitHeaders.standard().render(allowed(p, 50, Duration.ofSeconds(30)));
        assertThat(fields)
                .containsExactly(
                        Map.entry("RateLimit-Policy", "\"default\";q=100;w=10"),
                        Map.entry("RateLimit", "\"default\";r=50;t=30"));
    }

    @Test
    void severalBandwidthsAreSeveralPolicyItems() {
        // Section 3: RateLimit-Policy: "burst";q=100;w=60,"daily";q=1000;w=86400 (our items are
        // named after the policy; a list's members are separated by ", " or ",")
        RateLimitPolicy p = RateLimitPolicy.of(
                "burst",
                Bandwidth.perPeriod(100, Duration.ofSeconds(60)),
                Bandwidth.perPeriod(1000, Duration.ofDays(1)));
        String policy = RateLimitHeaders.standard()
                .render(allowed(p, 99, Duration.ofSeconds(1)))
                .get("RateLimit-Policy");
        assertThat(policy).isEqualTo("\"burst\";q=100;w=60, \"burst-2\";q=1000;w=86400");
    }

    @Test
    void aPartitionKeyIsAByteSequenceOnBothFields() {
        // Section 4.1: RateLimit: "default";r=300000000;t=60;pk=:QXBwLTk5OQ==: ("App-999"), with a
        // quota a Bandwidth refuses (3e8 tokens a minute passes the 2^53 exact-arithmetic bound), so
        // 999 here. The
        // policy examples' pk=:cHsdsRa894==: is not canonical base64 (its last character carries
        // set padding bits), so no encoder produces it; the same policy with the key "trial121323"
        // of Section 4.1's other example instead.
        RateLimitPolicy p = RateLimitPolicy.of("default", Bandwidth.perPeriod(1_000, Duration.ofSeconds(60)));
        Map<String, String> fields = RateLimitHeaders.standard()
                .withPartitionKey("App-999".getBytes(StandardCharsets.US_ASCII))
                .render(allowed(p, 999, Duration.ofSeconds(60)));
        assertThat(fields.get("RateLimit")).isEqualTo("\"default\";r=999;t=60;pk=:QXBwLTk5OQ==:");
        RateLimitPolicy peruser = RateLimitPolicy.of("peruser", Bandwidth.perPeriod(100, Duration.ofSeconds(60)));
        assertThat(RateLimitHeaders.standard()
                        .withPartitionKey(Base64.getDecoder().decode("dHJpYWwxMjEzMjM="))
                        .render(allowed(peruser, 99, Duration.ofSeconds(1)))
                        .get("RateLimit-Policy"))
                .isEqualTo("\"peruser\";q=100;w=60;pk=:dHJpYWwxMjEzMjM=:");
    }

    @Test
    void aRefusalCarriesRetryAfterInWholeSecondsRoundedUp() {
        // Appendix B: 429 with Retry-After: 20 and RateLimit: "dynamic";r=0;t=20
        RateLimitPolicy p = RateLimitPolicy.of("dynamic", Bandwidth.perPeriod(15, Duration.ofSeconds(20)));
        Decision refused = new Decision(false, 0, Duration.ofMillis(19_001), Duration.ofSeconds(20), p, false);
        assertThat(RateLimitHeaders.standard().render(refused))
                .containsExactly(
                        Map.entry("RateLimit-Policy", "\"dynamic\";q=15;w=20"),
                        Map.entry("RateLimit", "\"dynamic\";r=0;t=20"),
                        Map.entry("Retry-After", "20"));
        Decision soon = new Decision(false, 0, Duration.ofMillis(3), Duration.ofMillis(3), p, false);
        assertThat(RateLimitHeaders.standard().render(soon).get("Retry-After"))
                .as("never 0: a client would retry at once")
                .isEqualTo("1");
    }

    /** Adversary round 2: the largest duration wrapped to a negative t and a Retry-After of 1. */
    @Test
    void hugeDurationsSaturateAtTheLargestStructuredFieldInteger() {
        RateLimitPolicy p = RateLimitPolicy.of("p", Bandwidth.perPeriod(15, Duration.ofSeconds(20)));
        Duration longest = Duration.ofSeconds(Long.MAX_VALUE, 999_999_999);
        Map<String, String> fields =
                RateLimitHeaders.standard().render(new Decision(false, 0, longest, longest, p, false));
        assertThat(fields.get("RateLimit")).isEqualTo("\"p\";r=0;t=999999999999999");
        assertThat(fields.get("Retry-After")).isEqualTo("999999999999999");
        Decision never = new Decision(false, 0, Duration.ofNanos(Long.MAX_VALUE), Duration.ofSeconds(3), p, false);
        assertThat(RateLimitHeaders.standard().render(never).get("Retry-After")).isEqualTo("9223372037");
    }

    @Test
    void theOlderTrioOnRequest() {
        RateLimitPolicy p = RateLimitPolicy.of("basic", Bandwidth.perPeriod(100, Duration.ofSeconds(60)));
        Map<String, String> fields =
                RateLimitHeaders.standard().withLegacyFields().render(allowed(p, 60, Duration.ofSeconds(58)));
        assertThat(fields)
                .containsEntry("RateLimit", "\"basic\";r=60;t=58")
                .containsEntry("RateLimit-Limit", "100")
                .containsEntry("RateLimit-Remaining", "60")
                .containsEntry("RateLimit-Reset", "58");
    }
}
