package dev.headroom.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.ServerSocket;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The failure path of service resolution: loud, naming the service and the command that starts it. */
class ServiceResolverTest {

    private static final ServiceResolver.ContainerStarter NO_DOCKER = new ServiceResolver.ContainerStarter() {
        @Override
        public @Nullable PostgresEndpoint postgres() {
            return null;
        }

        @Override
        public @Nullable RedisEndpoint redis() {
            return null;
        }
    };

    @Test
    void anUnreachableRedisFailsNamingRedisAndTheStartCommand() throws IOException {
        ServiceResolver resolver =
                new ServiceResolver(Map.of("HEADROOM_REDIS_URL", "redis://127.0.0.1:" + closedPort()), () -> NO_DOCKER);
        assertThatThrownBy(resolver::redis)
                .isInstanceOf(ServiceUnavailableException.class)
                .hasMessageStartingWith("Redis is not available")
                .hasMessageContaining("HEADROOM_REDIS_URL=redis://127.0.0.1:")
                .hasMessageContaining("scripts/services up");
    }

    @Test
    void aMalformedRedisUrlFailsNamingTheVariable() {
        ServiceResolver resolver = new ServiceResolver(Map.of("HEADROOM_REDIS_URL", "localhost:6379"), () -> NO_DOCKER);
        assertThatThrownBy(resolver::redis)
                .isInstanceOf(ServiceUnavailableException.class)
                .hasMessageContaining("is not a redis://host:port URI");
    }

    @Test
    void anUnreachablePostgresFailsNamingPostgresAndTheStartCommand() throws IOException {
        String url = "jdbc:postgresql://127.0.0.1:" + closedPort() + "/test";
        ServiceResolver resolver = new ServiceResolver(Map.of("HEADROOM_PG_URL", url), () -> NO_DOCKER);
        assertThatThrownBy(resolver::postgres)
                .isInstanceOf(ServiceUnavailableException.class)
                .hasMessageStartingWith("PostgreSQL is not available")
                .hasMessageContaining(url)
                .hasMessageContaining("scripts/services up");
    }

    @Test
    void aPrimaryGivenAsTheReplicaIsRefused() {
        // The local primary answers, but it is not a standby: a replication test must not pass against it.
        ServiceResolver resolver =
                new ServiceResolver(Map.of("HEADROOM_PG_REPLICA_URL", ServiceResolver.LOCAL_PG_URL), () -> NO_DOCKER);
        assertThatThrownBy(resolver::replica)
                .isInstanceOf(ServiceUnavailableException.class)
                .hasMessageStartingWith("PostgreSQL streaming replica is not available")
                .hasMessageContaining("not a standby")
                .hasMessageContaining("scripts/services up");
    }

    @Test
    void theEnvironmentWinsOverTheLocalDefault() {
        ServiceResolver resolver = new ServiceResolver(
                Map.of("HEADROOM_REDIS_URL", "redis://127.0.0.1:" + ServiceResolver.LOCAL_REDIS_PORT), () -> NO_DOCKER);
        assertThat(resolver.redis().source()).isEqualTo("env HEADROOM_REDIS_URL");
        assertThat(new ServiceResolver(Map.of(), () -> NO_DOCKER).redis().source())
                .isEqualTo("local default");
    }

    private static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
