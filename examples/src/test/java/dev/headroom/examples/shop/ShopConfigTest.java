package dev.headroom.examples.shop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.Criticality;
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

    @Test
    void theDatabaseOfAUrlIsItsPathBeforeTheQueryEvenWhenTheQueryHoldsASlash() {
        assertThat(ShopConfig.withDatabase("jdbc:postgresql://h:5432?sslrootcert=/etc/ca.pem", "shop_0"))
                .isEqualTo("jdbc:postgresql://h:5432/shop_0?sslrootcert=/etc/ca.pem");
        assertThat(ShopConfig.withDatabase("jdbc:postgresql://h:5432/app?sslrootcert=/etc/ca.pem", "shop_1"))
                .isEqualTo("jdbc:postgresql://h:5432/shop_1?sslrootcert=/etc/ca.pem");
        assertThat(ShopConfig.withDatabase("jdbc:postgresql://h:5432", "shop_2"))
                .isEqualTo("jdbc:postgresql://h:5432/shop_2");
        // pgjdbc's short forms for localhost:5432
        assertThat(ShopConfig.withDatabase("jdbc:postgresql:app?user=x", "shop_4"))
                .isEqualTo("jdbc:postgresql:shop_4?user=x");
        assertThat(ShopConfig.withDatabase("jdbc:postgresql:/", "shop_5")).isEqualTo("jdbc:postgresql:shop_5");
        assertThat(ShopConfig.withDatabase("jdbc:postgresql://h:5432/", "shop_3"))
                .isEqualTo("jdbc:postgresql://h:5432/shop_3");
    }

    @Test
    void apiKeysAreTheDemoKeysUnlessTheEnvironmentIssuesOthers() {
        assertThat(ShopConfig.fromEnvironment(Map.of()).apiKeys())
                .containsEntry("demo-1", Criticality.DEFAULT)
                .containsEntry("demo-16", Criticality.DEFAULT)
                .containsEntry("demo-abuser", Criticality.DEFAULT)
                .containsEntry("demo-checkout", Criticality.CRITICAL)
                .containsEntry("demo-batch", Criticality.SHEDDABLE)
                .hasSize(19);
        ShopConfig issued = ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "partner-a:default, checkout:CRITICAL"));
        assertThat(issued.apiKeys())
                .containsExactlyInAnyOrderEntriesOf(
                        Map.of("partner-a", Criticality.DEFAULT, "checkout", Criticality.CRITICAL));
    }

    @Test
    void malformedApiKeySettingsAreRefusedNamingTheProblem() {
        assertThatThrownBy(() -> ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "partner-a")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("SHOP_API_KEYS entries must be key:criticality");
        assertThatThrownBy(() -> ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "partner-a:urgent")))
                .hasMessageContaining("criticality must be critical, default or sheddable, got 'urgent'");
        assertThatThrownBy(() -> ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "a:default,a:critical")))
                .hasMessageContaining("names key 'a' twice");
        assertThatThrownBy(() -> ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "has space:default")))
                .hasMessageContaining("API keys must be 1-64 characters");
        assertThatThrownBy(() -> ShopConfig.fromEnvironment(Map.of("SHOP_API_KEYS", "")))
                .hasMessageContaining("SHOP_API_KEYS entries must be key:criticality");
    }
}
