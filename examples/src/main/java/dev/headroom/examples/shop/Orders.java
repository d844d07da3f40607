package dev.headroom.examples.shop;

import dev.headroom.core.Codec;
import dev.headroom.core.ConsistencyToken;
import dev.headroom.db.RoutingDataSource;
import dev.headroom.queue.EnqueueOptions;
import dev.headroom.queue.JobQueue;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * The orders' SQL. An order is written on the primary of its tenant's shard together with its
 * confirmation job (one transaction: the job exists if and only if the order does), once per
 * idempotency key; it is read back from a replica that has replayed the caller's consistency token.
 * Thread-safe.
 */
final class Orders {

    /** The job type of an order's confirmation; its payload is {@code "tenantId:orderId"}. */
    static final String CONFIRM = "confirm-order";

    private final ShopShards shards;
    private final int confirmationAttempts;

    Orders(ShopShards shards, int confirmationAttempts) {
        this.shards = shards;
        this.confirmationAttempts = confirmationAttempts;
    }

    /** What placing an order did. */
    record Placed(Order order, boolean created, ConsistencyToken token) {}

    /** A repeated idempotency key whose request differs from the first one. */
    static final class KeyReused extends RuntimeException {
        private static final long serialVersionUID = 1L;

        KeyReused(String key) {
            super("Idempotency-Key '" + key + "' was already used for a different order request", null, false, false);
        }
    }

    /**
     * Places an order once per (tenant, owner, idempotency key): the first call inserts it and
     * enqueues its confirmation in the same transaction; a repeat returns the order the first call
     * made. Another owner's equal idempotency key is a different order (keys are chosen by clients).
     *
     * @throws KeyReused if the key was used for a different request
     */
    Placed place(long tenantId, String owner, String idempotencyKey, OrderRequest request, Product product)
            throws SQLException {
        ShopShards.Shard shard = shards.forTenant(tenantId);
        RoutingDataSource db = shard.router();
        String fingerprint = fingerprint(request);
        Order order;
        boolean created;
        try (Connection c = db.getConnection()) {
            c.setAutoCommit(false); // a read-write transaction: the router sends it to the primary
            try {
                order = insert(c, tenantId, owner, idempotencyKey, fingerprint, request, product);
                created = order != null;
                if (order == null) {
                    order = existing(c, tenantId, owner, idempotencyKey, fingerprint);
                } else {
                    JobQueue queue = shard.queue();
                    queue.enqueue(
                            c,
                            CONFIRM,
                            tenantId + ":" + order.id(),
                            Codec.utf8(),
                            EnqueueOptions.builder()
                                    .queue(shard.queueName())
                                    .idempotencyKey("confirm:" + tenantId + ":" + order.id())
                                    .maxAttempts(confirmationAttempts)
                                    .build());
                }
                c.commit();
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        }
        return new Placed(order, created, db.consistencyToken()); // the primary's position after the commit
    }

    /**
     * Reads an order of {@code owner}, from a replica that has replayed {@code token} when there is
     * one; another owner's order is absent.
     */
    Optional<Order> find(long tenantId, String owner, long orderId, Optional<ConsistencyToken> token)
            throws SQLException {
        RoutingDataSource db = shards.forTenant(tenantId).router();
        dev.headroom.db.SqlWork<Optional<Order>> read = () -> {
            try (Connection c = db.getConnection();
                    PreparedStatement s =
                            c.prepareStatement(SELECT + " WHERE tenant_id = ? AND id = ? AND owner = ?")) {
                s.setLong(1, tenantId);
                s.setLong(2, orderId);
                s.setString(3, owner);
                try (ResultSet rs = s.executeQuery()) {
                    return rs.next() ? Optional.of(order(rs)) : Optional.empty();
                }
            }
        };
        return token.isPresent() ? db.replica(token.get(), read) : db.replica(read);
    }

    /** The confirmation job's effect, on the job's own transaction. */
    static void confirm(Connection c, long tenantId, long orderId) throws SQLException {
        try (PreparedStatement s = c.prepareStatement(
                "UPDATE orders SET status = 'confirmed' WHERE tenant_id = ? AND id = ? AND status = 'pending'")) {
            s.setLong(1, tenantId);
            s.setLong(2, orderId);
            s.executeUpdate();
        }
    }

    private static final String SELECT =
            "SELECT id, tenant_id, product_id, quantity, total_cents, status, created_at, request_hash FROM orders";

    private static @org.jspecify.annotations.Nullable Order insert(
            Connection c,
            long tenantId,
            String owner,
            String key,
            String fingerprint,
            OrderRequest request,
            Product product)
            throws SQLException {
        try (PreparedStatement s = c.prepareStatement("INSERT INTO orders"
                + " (tenant_id, owner, idempotency_key, request_hash, product_id, quantity, total_cents, status)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')"
                + " ON CONFLICT (tenant_id, owner, idempotency_key) DO NOTHING"
                + " RETURNING id, tenant_id, product_id, quantity, total_cents, status, created_at")) {
            s.setLong(1, tenantId);
            s.setString(2, owner);
            s.setString(3, key);
            s.setString(4, fingerprint);
            s.setLong(5, request.productId());
            s.setInt(6, request.quantity());
            s.setLong(7, product.priceCents() * request.quantity());
            try (ResultSet rs = s.executeQuery()) {
                return rs.next() ? order(rs) : null;
            }
        }
    }

    private static Order existing(Connection c, long tenantId, String owner, String key, String fingerprint)
            throws SQLException {
        try (PreparedStatement s =
                c.prepareStatement(SELECT + " WHERE tenant_id = ? AND owner = ? AND idempotency_key = ?")) {
            s.setLong(1, tenantId);
            s.setString(2, owner);
            s.setString(3, key);
            try (ResultSet rs = s.executeQuery()) {
                if (!rs.next()) {
                    throw new SQLException("order with idempotency key vanished: tenant " + tenantId);
                }
                if (!fingerprint.equals(rs.getString("request_hash"))) {
                    throw new KeyReused(key);
                }
                return order(rs);
            }
        }
    }

    private static Order order(ResultSet rs) throws SQLException {
        return new Order(
                rs.getLong("id"),
                rs.getLong("tenant_id"),
                rs.getLong("product_id"),
                rs.getInt("quantity"),
                rs.getLong("total_cents"),
                rs.getString("status"),
                rs.getTimestamp("created_at").toInstant().toString());
    }

    private static String fingerprint(OrderRequest request) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256")
                    .digest((request.productId() + "x" + request.quantity()).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
