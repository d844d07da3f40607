package dev.headroom.db.internal;

import dev.headroom.db.Route;
import org.jspecify.annotations.Nullable;

/**
 * What was known when a logical connection was obtained: the scope's route (null outside scopes),
 * the read-your-writes position to honour (-1 for none), whether the request is critical, and the
 * read's own staleness budget in nanoseconds (-1: the router's bounds).
 */
public record RouteHint(@Nullable Route scope, long tokenPosition, boolean critical, long maxStalenessNanos) {
    public static final RouteHint NONE = new RouteHint(null, -1, false, -1);

    public RouteHint(@Nullable Route scope, long tokenPosition, boolean critical) {
        this(scope, tokenPosition, critical, -1);
    }
}
