package dev.headroom.examples.shop;

import io.javalin.http.Context;
import io.lettuce.core.api.StatefulRedisConnection;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * {@code GET /health}: 200 while every shard's primary answers, else 503; how many replicas serve
 * each shard and whether Redis answers are listed (losing either degrades the shop, it does not stop
 * it). Thread-safe.
 */
final class Health {

    private final ShopShards shards;
    private final @Nullable StatefulRedisConnection<String, String> redis;

    Health(ShopShards shards, @Nullable StatefulRedisConnection<String, String> redis) {
        this.shards = shards;
        this.redis = redis;
    }

    void handle(Context ctx) {
        boolean up = true;
        List<Map<String, Object>> shardHealth = new ArrayList<>();
        for (ShopShards.Shard shard : shards.all()) {
            boolean primaryUp;
            try (Connection c = shard.primary().getConnection()) {
                primaryUp = c.isValid(1);
            } catch (SQLException e) {
                primaryUp = false;
            }
            up &= primaryUp;
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("name", shard.name());
            s.put("primary", primaryUp ? "up" : "down");
            s.put(
                    "replicasServing",
                    shard.router().replicas().stream()
                            .filter(r -> shard.router().isServing(r.name()))
                            .count());
            shardHealth.add(s);
        }
        ctx.status(up ? 200 : 503)
                .json(Map.of("status", up ? "UP" : "DOWN", "shards", shardHealth, "redis", redisState()));
    }

    private String redisState() {
        StatefulRedisConnection<String, String> r = redis;
        if (r == null) {
            return "not connected";
        }
        try {
            return "PONG".equals(r.async().ping().get(1, TimeUnit.SECONDS)) ? "up" : "down";
        } catch (Exception e) {
            return "down";
        }
    }
}
