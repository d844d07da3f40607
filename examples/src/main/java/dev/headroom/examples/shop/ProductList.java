package dev.headroom.examples.shop;

import java.util.List;

/**
 * The first page of a tenant's catalog, cached as one value. Immutable.
 *
 * @param tenantId the tenant
 * @param items the products, by id
 */
public record ProductList(long tenantId, List<Product> items) {
    public ProductList {
        items = List.copyOf(items);
    }
}
