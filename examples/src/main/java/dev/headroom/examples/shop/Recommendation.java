package dev.headroom.examples.shop;

import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The answer of {@code GET /products/{id}/recommendations}.
 *
 * @param source {@code live} (the recommendation service answered) or {@code fallback} (the
 *     tenant's popular products instead)
 * @param reason why it is a fallback ({@code shed}, {@code bulkhead_full}, {@code circuit_open},
 *     {@code deadline}, {@code throttled}, {@code timeout} or {@code failure}); null when live
 * @param criticality the criticality the request was served with
 */
record Recommendation(
        long productId, String source, @Nullable String reason, String criticality, List<Product> products) {}
