package dev.headroom.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Codec;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.queue.postgres.PostgresJobStore;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The README's queue quick start, compiled and run against the real PostgreSQL. Keep the two in step. */
@ExtendWith(HeadroomServices.class)
class QueueQuickStartIT {

    @Test
    void readmeQueueQuickStartWorks(TestDatabase database) throws Exception {
        DataSource primary = database.dataSource();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        database.execute("CREATE TABLE charges (order_id text NOT NULL)");

        // README: begin
        PostgresJobStore store = PostgresJobStore.create(primary); // the primary, never a replica router
        store.createSchema(); // or run PostgresJobStore.schemaSql() in your migrations
        JobQueue queue = JobQueue.builder(store).meterRegistry(registry).build();

        // in the web request: the job exists if and only if the order's transaction commits
        try (Connection c = primary.getConnection()) {
            c.setAutoCommit(false);
            // ... insert the order on c ...
            queue.enqueue(
                    c,
                    "charge",
                    "order-42",
                    Codec.utf8(),
                    EnqueueOptions.builder().idempotencyKey("charge:order-42").build());
            c.commit(); // NOTIFY wakes a worker now
        }

        // in the worker process
        JobWorker worker = JobWorker.builder(queue)
                .queue("default", 8) // at most 8 jobs of the queue at once in this process
                .transactionalHandler("charge", Codec.utf8(), (orderId, ctx) -> {
                    try (PreparedStatement ps = ctx.connection() // commits with the job's completion
                            .prepareStatement("INSERT INTO charges (order_id) VALUES (?)")) {
                        ps.setString(1, orderId);
                        ps.executeUpdate();
                    }
                })
                .build()
                .start();
        // ...
        // README: end

        await().atMost(Duration.ofSeconds(60)).until(() -> charges(primary) == 1);
        // README: begin
        worker.shutdown(Duration.ofSeconds(30)); // stop claiming, give back unstarted jobs, finish the rest
        // README: end
        assertThat(charges(primary)).isEqualTo(1);
        assertThat(registry.get("headroom.queue.completed").counter().count()).isEqualTo(1);
    }

    private static long charges(DataSource ds) throws SQLException {
        try (Connection c = ds.getConnection();
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery("SELECT count(*) FROM charges")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
