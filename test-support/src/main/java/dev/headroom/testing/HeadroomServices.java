package dev.headroom.testing;

import java.util.Set;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * JUnit Jupiter extension that hands tests real services with per-test isolation. Declare a
 * parameter of type {@link TestDatabase}, {@link TestReplica}, {@link TestRedis} or {@link
 * TestRedisCluster} on a test,
 * lifecycle method or constructor:
 *
 * <pre>{@code
 * @ExtendWith(HeadroomServices.class)
 * class OrderStoreIT {
 *     @Test
 *     void storesAnOrder(TestDatabase db, TestRedis redis) { ... }
 * }
 * }</pre>
 *
 * <p>Each resolved value lives as long as the JUnit context it was resolved in (the test method, or
 * the class for {@code @BeforeAll}) and is cleaned up when that context ends. A {@link TestReplica}
 * shares its test's {@link TestDatabase} schema. A service that cannot be found fails the test with
 * a {@link ServiceUnavailableException} saying how to start it.
 */
public final class HeadroomServices implements ParameterResolver {

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(HeadroomServices.class);
    private static final Set<Class<?>> TYPES =
            Set.of(TestDatabase.class, TestReplica.class, TestRedis.class, TestRedisCluster.class);

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return TYPES.contains(parameterContext.getParameter().getType());
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return resolve(parameterContext.getParameter().getType(), extensionContext);
    }

    private static Object resolve(Class<?> type, ExtensionContext context) {
        ExtensionContext.Store store = context.getStore(NAMESPACE);
        if (type == TestDatabase.class) {
            return store.computeIfAbsent(
                    TestDatabase.class, t -> new TestDatabase(Services.postgres()), TestDatabase.class);
        }
        if (type == TestReplica.class) {
            TestDatabase db = (TestDatabase) resolve(TestDatabase.class, context);
            return store.computeIfAbsent(
                    TestReplica.class, t -> new TestReplica(Services.replica(), db), TestReplica.class);
        }
        if (type == TestRedis.class) {
            return store.computeIfAbsent(TestRedis.class, t -> new TestRedis(Services.redis()), TestRedis.class);
        }
        if (type == TestRedisCluster.class) {
            return store.computeIfAbsent(
                    TestRedisCluster.class, t -> new TestRedisCluster(Services.redisCluster()), TestRedisCluster.class);
        }
        throw new IllegalArgumentException("unsupported parameter type " + type.getName());
    }
}
