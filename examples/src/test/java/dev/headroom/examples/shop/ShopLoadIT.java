package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestRedis;
import dev.headroom.testing.TestReplica;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code scripts/demo-load}'s scenario, short, against a shop on the real services: what its report
 * claims to demonstrate holds (the counts, not the latencies: two busy cores make those noise).
 */
@ExtendWith(HeadroomServices.class)
class ShopLoadIT {

    @Test
    void theLoadScenarioShowsEachComponentDoingItsJob(TestDatabase database, TestReplica replica, TestRedis redis)
            throws Exception {
        List<ShopConfig.Shard> shards = TestShards.create(database, replica, 4);
        ShopConfig config = ShopConfig.of(shards, redis.uri(), redis.keyPrefix() + "shop:")
                .withPort(0)
                .withPoolSize(3)
                // 40/s a key: above a well-behaved client (10/s) and a criticality's crowd (3 × 10/s),
                // below the abusive client's four connections even on two busy cores
                .withRateLimits(60, 40)
                .withConfirmationFailureRate(0.2)
                .withConfirmationRetries(2, Duration.ofMillis(20));
        ShopLoad.Report report;
        try (ShopApp app = ShopApp.start(config)) {
            assertThatThrownBy(() -> ShopLoad.run(app, Duration.ofSeconds(1), 16, 20, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("clients must be 1..15");
            report = ShopLoad.run(app, Duration.ofSeconds(9), 3, 10, 7);
        }
        System.out.println(report);

        // every client sends a key the shop issued, within its limits: no 401, 403 or 5xx
        assertThat(report.byStatus()).as("responses by status").containsOnlyKeys(200, 201, 429);
        assertThat(report.wellBehaved429s()).as("well-behaved clients refused").isZero();
        assertThat(report.abusive429s())
                .as("the abusive key's refusals of %d requests", report.abusiveRequests())
                .isPositive();
        // read-your-writes: every order read straight back after placing it was there
        assertThat(report.ordersReadBack()).isPositive();
        assertThat(report.staleReads()).as("stale read-your-writes reads").isZero();
        // the caches: the database sees a fraction of the product requests
        assertThat(report.productDatabaseReads())
                .as("database reads for %d product requests", report.productRequests())
                .isLessThan(report.productRequests() / 2);
        // the guard answered every criticality (live or fallback, never an error)
        assertThat(report.recommendationsByCriticality()).containsOnlyKeys("critical", "default", "sheddable");
        report.recommendationsByCriticality()
                .forEach((criticality, answers) -> assertThat(answers.keySet())
                        .as("answers to %s callers", criticality)
                        .allSatisfy(answer -> assertThat(answer).doesNotStartWith("status")));
        // CRITICAL callers are never shed (the order of shedding itself: ShopResilienceIT, with latches)
        assertThat(report.recommendationsByCriticality().get("critical")).doesNotContainKey("fallback:shed");
    }
}
