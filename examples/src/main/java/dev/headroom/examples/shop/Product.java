package dev.headroom.examples.shop;

/**
 * A product of one tenant's catalog. Immutable.
 *
 * @param tenantId the tenant
 * @param id the product's id within the tenant
 * @param name its name
 * @param priceCents its price in cents
 */
public record Product(long tenantId, long id, String name, long priceCents) {}
