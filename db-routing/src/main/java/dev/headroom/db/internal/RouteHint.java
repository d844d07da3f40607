package dev.headroom.db.internal;

import dev.headroom.db.Route;
import org.jspecify.annotations.Nullable;

/**
 * What was known when a logical connection was obtained: the scope's route (null outside scopes),
 * the read-your-writes position to honour (-1 for none), and whether the request is critical.
 */
public record RouteHint(@Nullable Route scope, long tokenPosition, boolean critical) {
    public static final RouteHint NONE = new RouteHint(null, -1, false);
}
