package dev.headroom.queue.postgres;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import dev.headroom.core.Codec;
import dev.headroom.queue.JobQueue;
import dev.headroom.queue.JobWorker;
import dev.headroom.testing.HeadroomServices;
import dev.headroom.testing.TestDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.postgresql.ds.PGSimpleDataSource;

/**
 * Behind a transaction-pooling PgBouncer (127.0.0.1:6432, started by {@code scripts/services up};
 * {@code HEADROOM_PGBOUNCER_URL} overrides the host and port), a session's LISTEN does not outlive
 * its transaction, so enqueue notifications silently never arrive. The worker's self-check must say
 * so ({@code headroom.queue.notifications.missing}) and its poll must still run every job.
 */
@ExtendWith(HeadroomServices.class)
class NotificationsBehindPoolerIT {

    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @Test
    void behindTransactionPoolingTheSelfCheckCountsMissingNotificationsAndThePollStillRunsEveryJob(TestDatabase db)
            throws Exception {
        String directUrl = db.createDatabase();
        String name = directUrl.substring(directUrl.lastIndexOf('/') + 1).replaceAll("\\?.*", "");
        String bouncer = System.getenv().getOrDefault("HEADROOM_PGBOUNCER_URL", "jdbc:postgresql://127.0.0.1:6432");
        PGSimpleDataSource pooled = dataSource(bouncer + "/" + name + "?prepareThreshold=0");
        try (Connection c = pooled.getConnection()) {
            assertThat(c.isValid(5)).isTrue();
        } catch (SQLException e) {
            fail("PgBouncer is not reachable at " + bouncer + " (" + e.getMessage()
                    + "): start it with scripts/services up (it needs apt-get install pgbouncer),"
                    + " or point HEADROOM_PGBOUNCER_URL at a transaction-pooling PgBouncer");
        }
        PGSimpleDataSource direct = dataSource(directUrl);
        PostgresJobStore.create(direct).createSchema();

        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CountDownLatch ran = new CountDownLatch(5);
        try (JobQueue producer =
                        JobQueue.builder(PostgresJobStore.create(direct)).build();
                JobQueue consumer = JobQueue.builder(PostgresJobStore.create(pooled))
                        .meterRegistry(registry)
                        .build()) {
            JobWorker worker = JobWorker.builder(consumer)
                    .queue("default", 2)
                    .pollInterval(Duration.ofMillis(500))
                    .meterRegistry(registry)
                    .handler("t", Codec.utf8(), (payload, ctx) -> ran.countDown())
                    .build()
                    .start();
            try {
                await().atMost(TIMEOUT)
                        .until(() -> registry.find("headroom.queue.notifications.missing").counters().stream()
                                        .mapToDouble(c -> c.count())
                                        .sum()
                                > 0);
                for (int i = 0; i < 5; i++) {
                    producer.enqueue("t", ("job-" + i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                }
                assertThat(ran.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS))
                        .as("every job run by the poll, notifications or not")
                        .isTrue();
            } finally {
                worker.shutdown(Duration.ofSeconds(10));
            }
        }
    }

    private static PGSimpleDataSource dataSource(String url) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(url);
        if (!url.contains("user=")) {
            ds.setUser("postgres");
        }
        return ds;
    }
}
