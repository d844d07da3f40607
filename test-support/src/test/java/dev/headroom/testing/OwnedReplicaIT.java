package dev.headroom.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Proves a test-owned replica follows the primary, stops following it while its replication is cut,
 * catches up once restored, survives a restart, can be promoted, and leaves no slot behind. One
 * replica for the class (a base backup takes seconds), so the tests run in order.
 */
@ExtendWith(HeadroomServices.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Execution(ExecutionMode.SAME_THREAD)
class OwnedReplicaIT {

    /** The receiver notices a cut at once (its connection closes) or after wal_receiver_timeout (5 s). */
    private static final Duration RECEIVER_NOTICES = Duration.ofSeconds(10);

    /** Long enough for a busy 2-core machine to replay a row. */
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private OwnedReplica replica;

    @BeforeAll
    void createReplica() {
        long started = System.nanoTime();
        replica = OwnedReplica.create("it");
        System.out.printf("OwnedReplica.create took %d ms%n", (System.nanoTime() - started) / 1_000_000);
    }

    @AfterAll
    void closeReplica() {
        replica.close();
    }

    @Test
    @Order(1)
    void aNewReplicaStreamsAndShowsARowInsertedOnThePrimary(TestDatabase db) throws SQLException {
        assertThat(replica.walReceiverStreaming()).isTrue();
        assertThat(replica.inRecovery()).isTrue();
        db.execute("CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items VALUES (1)");

        await("row 1 on the replica").atMost(TIMEOUT).until(() -> count(db, 1) == 1);
    }

    @Test
    @Order(2)
    void aCutReplicaStopsStreamingAndMissesNewRowsUntilRestored(TestDatabase db) throws SQLException {
        db.execute("CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items VALUES (1)");
        replica.awaitCaughtUp(TIMEOUT);
        assertThat(count(db, 1)).isEqualTo(1);

        replica.cutReplication();
        await("the WAL receiver notices the cut").atMost(RECEIVER_NOTICES).until(() -> !replica.walReceiverStreaming());
        db.execute("INSERT INTO items VALUES (2)");
        // The receiver keeps retrying every 500 ms through the cut proxy and must stay disconnected.
        await("the receiver retries and stays cut off")
                .during(Duration.ofSeconds(2))
                .atMost(Duration.ofSeconds(5))
                .until(() -> !replica.walReceiverStreaming() && count(db, 2) == 0);

        replica.restoreReplication();
        await("row 2 on the replica once restored").atMost(TIMEOUT).until(() -> count(db, 2) == 1);
        assertThat(replica.walReceiverStreaming()).isTrue();
    }

    @Test
    @Order(3)
    void aRestartedReplicaIsStillAStandbyAndCatchesUp(TestDatabase db) throws SQLException {
        replica.restart();

        assertThat(replica.inRecovery()).isTrue();
        db.execute("CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items VALUES (3)");
        replica.awaitCaughtUp(TIMEOUT);
        assertThat(count(db, 3)).isEqualTo(1);
    }

    @Test
    @Order(4)
    void aCrashedReplicaStartsAgainAndCatchesUp(TestDatabase db) throws SQLException {
        replica.stopImmediately();
        db.execute("CREATE TABLE items (id int PRIMARY KEY)", "INSERT INTO items VALUES (4)");

        replica.start();

        assertThat(replica.inRecovery()).isTrue();
        assertThat(count(db, 4)).isEqualTo(1);
    }

    @Test
    @Order(5)
    void aPromotedReplicaLeavesRecovery() {
        replica.promote();

        assertThat(replica.inRecovery()).isFalse();
    }

    @Test
    @Order(6)
    void closingRemovesTheSlotAndTheDataDirectoryEvenAfterPromotion(TestDatabase db) throws SQLException {
        String slot = replica.slotName();
        Path dataDir = Path.of(OwnedReplica.ROOT_DIR, "it-" + replica.port());
        assertThat(slotCount(db, slot)).isEqualTo(1);
        assertThat(dataDir).isDirectory();

        replica.close();
        replica.close(); // idempotent

        assertThat(slotCount(db, slot)).isZero();
        assertThat(Files.exists(dataDir)).isFalse();
    }

    private int count(TestDatabase db, int id) throws SQLException {
        try (Connection c = PostgresEndpoint.connect(replica.jdbcUrl(db.schema()));
                PreparedStatement s = c.prepareStatement("SELECT count(*) FROM items WHERE id = ?")) {
            s.setInt(1, id);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    private static int slotCount(TestDatabase db, String slot) throws SQLException {
        try (Connection c = db.connect();
                PreparedStatement s =
                        c.prepareStatement("SELECT count(*) FROM pg_replication_slots WHERE slot_name = ?")) {
            s.setString(1, slot);
            try (ResultSet rs = s.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }
}
