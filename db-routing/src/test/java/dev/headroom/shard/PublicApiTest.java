package dev.headroom.shard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.RequestContext;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.postgresql.ds.PGSimpleDataSource;

/** What db-routing's public API shows callers: no third-party hashing types, no user data in messages. */
class PublicApiTest {

    /** Third-party packages that must not appear in a public signature of db-routing. */
    private static final List<String> HIDDEN = List.of("com.dynatrace.");

    private static final List<String> PACKAGES = List.of("dev.headroom.shard", "dev.headroom.db");

    @Test
    void noHash4jTypeAppearsInAnyPublicSignatureOfDbRouting() throws Exception {
        List<Class<?>> types = publicTypes();
        assertThat(types)
                .as("the scan finds the public types")
                .contains(KeyHasher.class, ShardedDataSource.class, ReshardingPlan.Move.class)
                .anyMatch(t -> t.getPackageName().equals("dev.headroom.db"));
        List<String> leaks = new ArrayList<>();
        for (Class<?> type : types) {
            List<Type> mentioned = new ArrayList<>();
            if (type.getGenericSuperclass() != null) {
                mentioned.add(type.getGenericSuperclass());
            }
            mentioned.addAll(List.of(type.getGenericInterfaces()));
            for (TypeVariable<?> v : type.getTypeParameters()) {
                mentioned.addAll(List.of(v.getBounds()));
            }
            check(leaks, type.getName(), mentioned);
            for (Field f : type.getDeclaredFields()) {
                if (visible(f.getModifiers())) {
                    check(leaks, type.getName() + "." + f.getName(), List.of(f.getGenericType()));
                }
            }
            for (Method m : type.getDeclaredMethods()) {
                if (visible(m.getModifiers()) && !m.isSynthetic()) {
                    List<Type> sig = new ArrayList<>(List.of(m.getGenericParameterTypes()));
                    sig.add(m.getGenericReturnType());
                    sig.addAll(List.of(m.getGenericExceptionTypes()));
                    for (TypeVariable<?> v : m.getTypeParameters()) {
                        sig.addAll(List.of(v.getBounds()));
                    }
                    check(leaks, type.getName() + "#" + m.getName(), sig);
                }
            }
            for (Constructor<?> c : type.getDeclaredConstructors()) {
                if (visible(c.getModifiers()) && !c.isSynthetic()) {
                    List<Type> sig = new ArrayList<>(List.of(c.getGenericParameterTypes()));
                    sig.addAll(List.of(c.getGenericExceptionTypes()));
                    check(leaks, type.getName() + "#<init>", sig);
                }
            }
        }
        assertThat(leaks).as("public signatures mentioning " + HIDDEN).isEmpty();
    }

    @Test
    void aMistypedShardKeyIsReportedByItsTypeNeverItsValue() {
        ShardedDataSource<Long> sharded = new ShardedDataSource<>(
                Long.class,
                new JumpShardResolver<>(KeyHasher.ofLong(), List.of("eu-1")),
                Map.of("eu-1", new PGSimpleDataSource()));
        try (RequestContext.Scope ignored =
                RequestContext.empty().withShardKey("ceo@acme.example").open()) {
            assertThatThrownBy(sharded::getConnection)
                    .hasMessageContaining("shard key is a java.lang.String, expected java.lang.Long")
                    .message()
                    .doesNotContain("ceo@acme.example");
        }
    }

    private static boolean visible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static void check(List<String> leaks, String where, List<Type> types) {
        for (Type t : types) {
            String name = t.getTypeName();
            for (String hidden : HIDDEN) {
                if (name.contains(hidden)) {
                    leaks.add(where + " mentions " + name);
                }
            }
        }
    }

    /** Public top-level and public nested types of the packages, read from the compiled classes. */
    private static List<Class<?>> publicTypes() throws IOException, URISyntaxException, ClassNotFoundException {
        List<Class<?>> out = new ArrayList<>();
        ClassLoader loader = PublicApiTest.class.getClassLoader();
        for (String pkg : PACKAGES) {
            // Main classes, not test classes: the directory that holds a main type of the package.
            Class<?> anchor = pkg.equals("dev.headroom.shard")
                    ? KeyHasher.class
                    : Class.forName("dev.headroom.db.RoutingDataSource", false, loader);
            URL url = anchor.getResource(anchor.getSimpleName() + ".class");
            Path dir = Path.of(url.toURI()).getParent();
            try (Stream<Path> files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files.sorted()::iterator) {
                    String file = f.getFileName().toString();
                    if (!file.endsWith(".class") || file.equals("package-info.class")) {
                        continue;
                    }
                    Class<?> c = Class.forName(pkg + "." + file.substring(0, file.length() - 6), false, loader);
                    if (Modifier.isPublic(c.getModifiers()) && isPublicAllTheWayOut(c)) {
                        out.add(c);
                    }
                }
            }
        }
        return out;
    }

    private static boolean isPublicAllTheWayOut(Class<?> c) {
        for (Class<?> t = c; t != null; t = t.getDeclaringClass()) {
            if (!Modifier.isPublic(t.getModifiers()) || t.isAnonymousClass() || t.isLocalClass()) {
                return false;
            }
        }
        return true;
    }
}
