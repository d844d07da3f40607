package dev.headroom.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.RequestContext;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceLock;

/** Issue 13: a read's own staleness budget, tighter or looser than the router's maxLag. */
@ExtendWith(HeadroomServices.class)
class StalenessBudgetIT {

    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    private static boolean read(RoutingDataSource router) throws SQLException {
        try (Connection c = router.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
            rs.next();
            return rs.getBoolean(1);
        }
    }

    private double fallbacks(String reason) {
        return registry.find("headroom.db.fallbacks").tag("reason", reason).counters().stream()
                .mapToDouble(c -> c.count())
                .sum();
    }

    @Test
    @ResourceLock(TestReplica.REPLAY_LOCK)
    void aReadTakesAReplicaOnlyWithinItsOwnBudgetTighterOrLooserThanMaxLag(TestDatabase db, TestReplica replica)
            throws Exception {
        db.execute("CREATE TABLE budget (id int)");
        try (RoutingDataSource loose = RoutingDataSource.builder("loose")
                        .primary(db.jdbcUrl())
                        .replica("r1", replica.jdbcUrl())
                        .probeInterval(Duration.ofMillis(100))
                        .maxLag(Duration.ofMinutes(5))
                        .meterRegistry(registry)
                        .build();
                RoutingDataSource tight = RoutingDataSource.builder("tight")
                        .primary(db.jdbcUrl())
                        .replica("r1", replica.jdbcUrl())
                        .probeInterval(Duration.ofMillis(100))
                        .maxLag(Duration.ofMillis(500))
                        .meterRegistry(registry)
                        .build();
                RoutingDataSource strict = RoutingDataSource.builder("strict")
                        .primary(db.jdbcUrl())
                        .replica("r1", replica.jdbcUrl())
                        .probeInterval(Duration.ofMillis(100))
                        .maxLag(Duration.ofMinutes(5))
                        .failWhenNoReplica()
                        .build()) {
            await().atMost(Duration.ofSeconds(30))
                    .until(() -> loose.isServing("r1") && tight.isServing("r1") && strict.isServing("r1"));
            replica.pauseReplay();
            try {
                db.execute("INSERT INTO budget VALUES (1)");
                await().atMost(Duration.ofSeconds(30))
                        .until(() -> loose.replicas().get(0).lagTime().compareTo(Duration.ofSeconds(1)) > 0
                                && !tight.isServing("r1"));

                assertThat(loose.replica(() -> read(loose)))
                        .as("within the router's maxLag")
                        .isTrue();
                assertThat(loose.replica(Duration.ofMillis(200), () -> read(loose)))
                        .as("a tighter budget than the replica's lag: the primary")
                        .isFalse();
                assertThat(fallbacks("staleness")).isEqualTo(1);
                try (var scope = RequestContext.current()
                        .withMaxStaleness(Duration.ofMillis(200))
                        .open()) {
                    assertThat(loose.replica(() -> read(loose)))
                            .as("the same budget from the request context")
                            .isFalse();
                }
                assertThat(fallbacks("staleness")).isEqualTo(2);

                assertThat(tight.replica(() -> read(tight)))
                        .as("ejected for lag by the router's own bound")
                        .isFalse();
                assertThat(tight.replica(Duration.ofMinutes(10), () -> read(tight)))
                        .as("a looser budget takes the lag-ejected replica: %s", tight.replicas())
                        .isTrue();

                assertThatThrownBy(() -> strict.replica(Duration.ofMillis(200), () -> read(strict)))
                        .isInstanceOf(NoReplicaAvailableException.class)
                        .hasMessageContaining("staleness budget");
            } finally {
                replica.resumeReplay();
            }
        }
    }

    @Test
    void aNegativeBudgetIsRefused(TestDatabase db) {
        try (RoutingDataSource router =
                RoutingDataSource.builder("neg").primary(db.jdbcUrl()).build()) {
            assertThatThrownBy(() -> router.replica(Duration.ofMillis(-1), () -> null))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("maxStaleness must be >= 0");
            assertThatThrownBy(() -> RequestContext.current().withMaxStaleness(Duration.ofMillis(-1)))
                    .hasMessageContaining("maxStaleness must be >= 0");
        }
    }
}
