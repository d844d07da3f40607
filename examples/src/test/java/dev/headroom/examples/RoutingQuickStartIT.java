package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.ConsistencyToken;
import dev.headroom.db.ReplicaSelector;
import dev.headroom.db.RoutingDataSource;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's db-routing quick start, run against the real primary and replica. Keep in step. */
@ExtendWith(HeadroomServices.class)
class RoutingQuickStartIT {

    @Test
    void readmeRoutingQuickStartWorks(TestDatabase database, TestReplica replica) throws SQLException {
        String primaryUrl = database.jdbcUrl();
        String replicaUrl = replica.jdbcUrl();
        MeterRegistry meterRegistry = new SimpleMeterRegistry();
        database.execute("CREATE TABLE orders (id bigint PRIMARY KEY, total int)");

        // README: begin
        try (RoutingDataSource db = RoutingDataSource.builder("shop")
                .primary(primaryUrl) // or .primary(existingDataSource)
                .replica("replica-1", replicaUrl)
                .poolConfig(pool -> pool.setMaximumPoolSize(20))
                .maxLag(Duration.ofSeconds(5)) // and/or .maxLagBytes(...)
                .selector(ReplicaSelector.powerOfTwoChoices())
                .meterRegistry(meterRegistry)
                .build()) {
            // a write: no routing decision means the primary
            try (Connection c = db.getConnection();
                    PreparedStatement s = c.prepareStatement("INSERT INTO orders VALUES (?, ?)")) {
                s.setLong(1, 1);
                s.setInt(2, 250);
                s.executeUpdate();
            }
            String cookie = db.consistencyToken().toString(); // send it to the browser

            // a later request, maybe on another instance: read what that user wrote
            ConsistencyToken token = ConsistencyToken.parse(cookie);
            int total = db.replica(token, () -> {
                try (Connection c = db.getConnection(); // a replica that has replayed the write
                        PreparedStatement s = c.prepareStatement("SELECT total FROM orders WHERE id = ?")) {
                    s.setLong(1, 1);
                    try (ResultSet rs = s.executeQuery()) {
                        rs.next();
                        return rs.getInt(1);
                    }
                }
            });
            // README: end
            assertThat(total).isEqualTo(250);
        }
        assertThat(meterRegistry.find("headroom.db.connections").counters()).isNotEmpty();
    }
}
