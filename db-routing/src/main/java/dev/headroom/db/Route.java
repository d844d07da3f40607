package dev.headroom.db;

/** Where a logical connection's statements run. */
public enum Route {
    /** The primary: writes, transactions, and anything not explicitly a read. */
    PRIMARY,
    /** A replica chosen by the router's {@link ReplicaSelector}, or the primary as a fallback. */
    REPLICA
}
