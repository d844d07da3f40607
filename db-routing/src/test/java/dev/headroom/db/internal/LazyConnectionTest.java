package dev.headroom.db.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.db.Route;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The logical connection's bookkeeping: everything that needs no server connection. */
class LazyConnectionTest {

    private final AtomicInteger opened = new AtomicInteger();

    /** An opener that only counts: any call that binds shows up in {@link #opened}. */
    private final LazyConnection.Opener counting = new LazyConnection.Opener() {
        @Override
        public java.sql.Connection open(LazyConnection c) throws SQLException {
            opened.incrementAndGet();
            throw new SQLException("no server in this test", "08001");
        }

        @Override
        public void replicaBroken(ReplicaNode node) {}
    };

    private LazyConnection connection(RouteHint hint) {
        return new LazyConnection(counting, hint);
    }

    @Test
    void sessionSettingsAndTheirGettersTakeNoServerConnection() throws SQLException {
        LazyConnection c = connection(RouteHint.NONE);

        assertThat(c.getAutoCommit()).isTrue();
        c.setAutoCommit(false);
        c.setSchema("reporting");
        c.setCatalog("test");
        c.setHoldability(ResultSet.CLOSE_CURSORS_AT_COMMIT);
        c.setClientInfo("ApplicationName", "orders");
        c.setNetworkTimeout(Runnable::run, 5_000);
        c.setReadOnly(true);
        c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);

        assertThat(c.getAutoCommit()).isFalse();
        assertThat(c.isReadOnly()).isTrue();
        assertThat(c.getTransactionIsolation()).isEqualTo(Connection.TRANSACTION_REPEATABLE_READ);
        assertThat(c.getSchema()).isEqualTo("reporting");
        assertThat(c.getCatalog()).isEqualTo("test");
        assertThat(c.getHoldability()).isEqualTo(ResultSet.CLOSE_CURSORS_AT_COMMIT);
        assertThat(c.getClientInfo("ApplicationName")).isEqualTo("orders");
        assertThat(c.getNetworkTimeout()).isEqualTo(5_000);
        assertThat((Object) c.getWarnings()).isNull();
        c.commit(); // nothing ran: nothing to commit
        c.rollback();
        assertThat(opened).as("server connections taken").hasValue(0);
        assertThat(c.isOpened()).isFalse();
    }

    @Test
    void isValidWithoutAServerConnectionAnswersWhetherTheLogicalConnectionIsOpen() throws SQLException {
        LazyConnection c = connection(RouteHint.NONE);

        assertThat(c.isValid(1)).isTrue();
        assertThatThrownBy(() -> c.isValid(-1)).isInstanceOf(SQLException.class).hasMessageContaining("timeout");
        c.close();
        assertThat(c.isValid(1)).isFalse();
        assertThat(opened).hasValue(0);
    }

    @Test
    void aStatementIsWhatTakesTheServerConnection() throws SQLException {
        LazyConnection c = connection(RouteHint.NONE);
        c.setSchema("reporting");

        assertThatThrownBy(c::createStatement).hasMessageContaining("no server in this test");
        assertThat(opened).hasValue(1);
        assertThat(c.isOpened()).isFalse();
    }

    @Test
    void aReplicaScopeWantsAReplicaUntilTheCallerAsksForWritesOrSerializable() throws SQLException {
        RouteHint replicaScope = new RouteHint(Route.REPLICA, -1, false);

        assertThat(connection(replicaScope).wantsReplica()).isTrue();
        LazyConnection notReadOnly = connection(replicaScope);
        notReadOnly.setReadOnly(false);
        assertThat(notReadOnly.wantsReplica())
                .as("setReadOnly(false) inside replica(...)")
                .isFalse();
        LazyConnection transaction = connection(replicaScope);
        transaction.setAutoCommit(false);
        assertThat(transaction.wantsReplica())
                .as("a read-write transaction inside replica(...)")
                .isFalse();
        transaction.setReadOnly(true);
        assertThat(transaction.wantsReplica())
                .as("a read-only transaction inside replica(...)")
                .isTrue();
        transaction.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
        assertThat(transaction.wantsReplica())
                .as("a hot standby refuses SERIALIZABLE")
                .isFalse();
        transaction.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
        assertThat(transaction.wantsReplica()).isTrue();
    }

    @Test
    void readOnlyWantsAReplicaExceptInAPrimaryScopeOrForCriticalRequests() throws SQLException {
        LazyConnection plain = connection(RouteHint.NONE);
        assertThat(plain.wantsReplica()).isFalse();
        plain.setReadOnly(true);
        assertThat(plain.wantsReplica()).isTrue();

        LazyConnection primaryScope = connection(new RouteHint(Route.PRIMARY, -1, false));
        primaryScope.setReadOnly(true);
        assertThat(primaryScope.wantsReplica()).isFalse();

        LazyConnection critical = connection(new RouteHint(Route.REPLICA, -1, true));
        critical.setReadOnly(true);
        assertThat(critical.wantsReplica()).isFalse();
    }
}
