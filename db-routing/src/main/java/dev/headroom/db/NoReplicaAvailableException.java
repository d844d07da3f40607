package dev.headroom.db;

import java.sql.SQLTransientConnectionException;

/**
 * A read routed to a replica found none serving, and the router is configured to fail rather than
 * fall back to the primary ({@link RoutingDataSourceBuilder#failWhenNoReplica()}). Transient: a
 * replica may be re-admitted at the next probe.
 */
public final class NoReplicaAvailableException extends SQLTransientConnectionException {
    private static final long serialVersionUID = 1L;

    public NoReplicaAvailableException(String message) {
        super(message, "08001");
    }
}
