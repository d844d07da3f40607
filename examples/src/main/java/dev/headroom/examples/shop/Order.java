package dev.headroom.examples.shop;

/**
 * An order as the API shows it. Immutable.
 *
 * @param id the order's id within its tenant
 * @param tenantId the tenant
 * @param productId the product ordered
 * @param quantity how many
 * @param totalCents the price of all of them
 * @param status {@code pending} until its confirmation job ran, then {@code confirmed}
 * @param createdAt when it was placed (ISO-8601, UTC)
 */
public record Order(
        long id, long tenantId, long productId, int quantity, long totalCents, String status, String createdAt) {}
