package dev.headroom.examples.shop;

/**
 * The body of {@code POST /orders}: {@code {"productId": 42, "quantity": 2}}. Immutable.
 *
 * @param productId the product to order
 * @param quantity how many, 1..100
 */
public record OrderRequest(long productId, int quantity) {}
