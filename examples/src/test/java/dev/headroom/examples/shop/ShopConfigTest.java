package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ShopConfigTest {

    @Test
    void withoutEnvironmentTheShopUsesFourLocalShardsWithTheLocalReplicaAndRedis() {
        ShopConfig config = ShopConfig.fromEnvironment(Map.of());
        assertThat(config.port()).isEqualTo(7070);
        assertThat(config.redisUri()).isEqualTo("redis://127.0.0.1:6379");
        assertThat(config.shards())
                .extracting(ShopConfig.Shard::name)
                .containsExactly("shop_0", "shop_1", "shop_2", "shop_3");
        assertThat(config.shards().get(2).primaryUrl())
                .isEqualTo("jdbc:postgresql://127.0.0.1:5432/shop_2?user=postgres");
        assertThat(config.shards().get(2).replicaUrl())
                .isEqualTo("jdbc:postgresql://127.0.0.1:5433/shop_2?user=postgres");
        assertThat(config.confirmationFailureRate()).isEqualTo(0.1);
    }

    @Test
    void theEnvironmentChoosesServersShardCountAndNoReplica() {
        ShopConfig config = ShopConfig.fromEnvironment(Map.of(
                "SHOP_PG_URL", "jdbc:postgresql://db.internal:6000/app",
                "SHOP_PG_REPLICA_URL", "none",
                "SHOP_SHARDS", "2",
                "SHOP_PORT", "8080",
                "SHOP_CONFIRMATION_FAILURE_RATE", "0.5"));
        assertThat(config.shards())
                .containsExactly(
                        new ShopConfig.Shard("shop_0", "jdbc:postgresql://db.internal:6000/shop_0", null),
                        new ShopConfig.Shard("shop_1", "jdbc:postgresql://db.internal:6000/shop_1", null));
        assertThat(config.port()).isEqualTo(8080);
        assertThat(config.confirmationFailureRate()).isEqualTo(0.5);
    }

    @Test
    void nonsenseSettingsAreRefusedNamingTheField() {
        ShopConfig config = ShopConfig.fromEnvironment(Map.of());
        assertThatThrownBy(() -> config.withConfirmationFailureRate(1.5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("confirmationFailureRate");
        assertThatThrownBy(() -> config.withPort(70_000)).hasMessageContaining("port");
        assertThatThrownBy(() -> config.withRateLimits(0, 10)).hasMessageContaining("anonymousPerMinute=0");
        assertThatThrownBy(() -> ShopConfig.of(List.of(), "redis://x:1", "p")).hasMessageContaining("shards");
        assertThatThrownBy(() -> ShopConfig.withDatabase("mysql://h/db", "x")).hasMessageContaining("pgjdbc URL");
    }
}
