package dev.headroom.examples.shop;

import dev.headroom.testing.TestDatabase;
import dev.headroom.testing.TestReplica;
import java.util.ArrayList;
import java.util.List;

/** The shards of a shop under test: fresh databases on the primary, read through the test replica. */
final class TestShards {
    private TestShards() {}

    /** Creates {@code count} shard databases named {@code shop_0..} in the shop's configuration. */
    static List<ShopConfig.Shard> create(TestDatabase database, TestReplica replica, int count) {
        List<ShopConfig.Shard> shards = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String primaryUrl = database.createDatabase();
            String name = primaryUrl.substring(primaryUrl.lastIndexOf('/') + 1).replaceFirst("\\?.*", "");
            shards.add(new ShopConfig.Shard(
                    "shop_" + i,
                    primaryUrl,
                    ShopConfig.withDatabase(replica.endpoint().jdbcUrl(), name)));
        }
        return shards;
    }
}
