package dev.headroom.examples.shop;

import dev.headroom.queue.JobContext;

/**
 * The order confirmation job's handler. It stands in for a payment provider that declines a
 * configurable fraction of orders: the same orders every time (a hash of the order decides), so a
 * declined order uses up its attempts and becomes a dead letter, and a replay after the fraction is
 * lowered confirms it. Thread-safe.
 */
final class Confirmations {

    private volatile double failureRate;

    Confirmations(double failureRate) {
        setFailureRate(failureRate);
    }

    double failureRate() {
        return failureRate;
    }

    void setFailureRate(double rate) {
        if (!(rate >= 0 && rate <= 1)) {
            throw new IllegalArgumentException("failure rate must be 0..1, got " + rate);
        }
        this.failureRate = rate;
    }

    /** Confirms the order {@code "tenantId:orderId"} in the job's transaction, or throws if declined. */
    void handle(String payload, JobContext context) throws Exception {
        int colon = payload.indexOf(':');
        long tenantId = Long.parseLong(payload.substring(0, colon));
        long orderId = Long.parseLong(payload.substring(colon + 1));
        if (declines(tenantId, orderId)) {
            throw new IllegalStateException("payment provider declined order " + orderId + " of tenant " + tenantId);
        }
        Orders.confirm(context.connection(), tenantId, orderId); // commits with the job's completion
    }

    private boolean declines(long tenantId, long orderId) {
        long h = tenantId * 0x9E3779B97F4A7C15L ^ orderId * 0xC2B2AE3D27D4EB4FL;
        h ^= h >>> 31;
        h *= 0xBF58476D1CE4E5B9L;
        h ^= h >>> 29;
        return (h >>> 11) * 0x1.0p-53 < failureRate;
    }
}
