package dev.headroom.shard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class ShardResolverTest {

    private static final int MILLION = 1_000_000;
    /** Chi-square critical value, 99th percentile, 15 degrees of freedom (16 shards). */
    private static final double CHI2_99_DF15 = 30.578;

    private static List<Long> keys(int n) {
        return LongStream.range(0, n).boxed().collect(Collectors.toList());
    }

    private static List<String> names(int n) {
        return IntStream.range(0, n).mapToObj(i -> "s" + i).collect(Collectors.toList());
    }

    private static double chiSquare(ShardResolver<Long> r, int keys) {
        Map<String, Integer> counts = new HashMap<>();
        for (long k = 0; k < keys; k++) {
            counts.merge(r.shardFor(k), 1, Integer::sum);
        }
        double expected = (double) keys / r.shards().size();
        double chi2 = 0;
        for (String s : r.shards()) {
            double d = counts.getOrDefault(s, 0) - expected;
            chi2 += d * d / expected;
        }
        return chi2;
    }

    @Test
    void keyHashesAreXxh3OfTheDocumentedBytes() {
        // XXH3-64, seed 0, of the empty input: the reference implementation's published value.
        assertThat(KeyHasher.ofBytes().hash(new byte[0])).isEqualTo(0x2D06800538D394C2L);
        long v = 0x0102030405060708L;
        byte[] le =
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
        assertThat(KeyHasher.ofLong().hash(v)).isEqualTo(KeyHasher.ofBytes().hash(le));
        assertThat(KeyHasher.ofString().hash("tenant-ü"))
                .isEqualTo(KeyHasher.ofBytes().hash("tenant-ü".getBytes(StandardCharsets.UTF_8)));
        UUID u = UUID.fromString("123e4567-e89b-12d3-a456-426614174000");
        byte[] rfc = ByteBuffer.allocate(16)
                .putLong(u.getMostSignificantBits())
                .putLong(u.getLeastSignificantBits())
                .array();
        assertThat(KeyHasher.ofUuid().hash(u)).isEqualTo(KeyHasher.ofBytes().hash(rfc));
        assertThat(KeyHasher.forType(Long.class).hash(v))
                .isEqualTo(KeyHasher.ofLong().hash(v));
        assertThatThrownBy(() -> KeyHasher.forType(Integer.class)).hasMessageContaining("no built-in KeyHasher");
    }

    @Test
    void jumpIsLampingAndVeachsAlgorithm() {
        // The reference vectors other ports (e.g. Go's dgryski/go-jump) test against.
        assertThat(JumpShardResolver.jump(1, 1)).isZero();
        assertThat(JumpShardResolver.jump(42, 57)).isEqualTo(43);
        assertThat(JumpShardResolver.jump(0xDEAD10CCL, 1)).isZero();
        assertThat(JumpShardResolver.jump(0xDEAD10CCL, 666)).isEqualTo(361);
        assertThat(JumpShardResolver.jump(256, 1024)).isEqualTo(520);
    }

    @Test
    void jumpAndRendezvousAreUniformOverAMillionKeys() {
        double jump = chiSquare(new JumpShardResolver<>(KeyHasher.ofLong(), names(16)), MILLION);
        double hrw = chiSquare(RendezvousShardResolver.unweighted(KeyHasher.ofLong(), Set.copyOf(names(16))), MILLION);
        System.out.printf(
                "chi-square over 1M keys, 16 shards: jump %.2f, rendezvous %.2f (99%% bound %.3f)%n",
                jump, hrw, CHI2_99_DF15);
        assertThat(jump).isLessThan(CHI2_99_DF15);
        assertThat(hrw).isLessThan(CHI2_99_DF15);
    }

    @Test
    void boundedLoadsKeepsTheFullestNodeWithinOnePlusEpsilonOfTheAverage() {
        for (double epsilon : new double[] {0.05, 0.25, 1.0}) {
            LocalBoundedLoadPlacement<Long> r =
                    new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names(16), epsilon, 50);
            int n = 200_000;
            for (long k = 0; k < n; k++) {
                r.place(k);
            }
            int max = IntStream.of(r.loads()).max().orElseThrow();
            double avg = (double) n / 16;
            assertThat(max / avg).as("max/avg at epsilon %s", epsilon).isLessThanOrEqualTo(1 + epsilon + 1 / avg);
            assertThat(IntStream.of(r.loads()).sum()).isEqualTo(n);
        }
        LocalBoundedLoadPlacement<Long> r = new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names(4), 0.25, 10);
        String first = r.place(7L);
        assertThat(r.place(7L)).as("a known key keeps its shard").isEqualTo(first);
        assertThat(r.release(7L)).isTrue();
        assertThat(r.release(7L)).isFalse();
        assertThat(IntStream.of(r.loads()).sum()).isZero();
    }

    /**
     * Why bounded loads is a per-process placement and not a {@link ShardResolver}: two instances
     * with the same topology that see the same keys in a different order put some keys on
     * different nodes. Behind a {@link ShardedDataSource} on two application instances, that is one
     * tenant's rows in two databases.
     */
    @Test
    void twoBoundedLoadPlacementsFedTheSameKeysInDifferentOrdersPlaceSomeKeysDifferently() {
        LocalBoundedLoadPlacement<Long> ascending =
                new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names(4), 0.1, 10);
        LocalBoundedLoadPlacement<Long> descending =
                new LocalBoundedLoadPlacement<>(KeyHasher.ofLong(), names(4), 0.1, 10);
        int n = 1_000;
        for (long k = 0; k < n; k++) {
            ascending.place(k);
            descending.place(n - 1 - k);
        }
        long differ = LongStream.range(0, n)
                .filter(k -> !ascending.place(k).equals(descending.place(k)))
                .count();
        assertThat(differ).as("keys the two instances place on different nodes").isPositive();
        // A ShardResolver built twice agrees on every key, whatever the order.
        JumpShardResolver<Long> a = new JumpShardResolver<>(KeyHasher.ofLong(), names(4));
        JumpShardResolver<Long> b = new JumpShardResolver<>(KeyHasher.ofLong(), names(4));
        for (long k = n - 1; k >= 0; k--) {
            b.shardFor(k);
        }
        assertThat(LongStream.range(0, n).filter(k -> !a.shardFor(k).equals(b.shardFor(k))))
                .isEmpty();
    }

    /**
     * The compile-time guard: everything that needs a pure function of the key takes a {@link
     * ShardResolver}, and the per-process placement is not one, so {@code new
     * ShardedDataSource<>(Long.class, new LocalBoundedLoadPlacement<>(...), shards)} does not compile.
     */
    @Test
    void aLocalPlacementCannotBeGivenWhereAPureShardFunctionIsRequired() throws ReflectiveOperationException {
        assertThat(ShardResolver.class.isAssignableFrom(LocalBoundedLoadPlacement.class))
                .as("LocalBoundedLoadPlacement implements ShardResolver")
                .isFalse();
        assertThat(ShardedDataSource.class.getConstructor(Class.class, ShardResolver.class, Map.class)
                        .getParameterTypes()[1])
                .isEqualTo(ShardResolver.class);
        assertThat(ReshardingPlan.class
                        .getMethod(
                                "compute",
                                ShardResolver.class,
                                ShardResolver.class,
                                Iterable.class,
                                java.util.function.Consumer.class)
                        .getParameterTypes())
                .startsWith(ShardResolver.class, ShardResolver.class);
        assertThat(ShardResolvers.class.getMethod("withOverrides", ShardResolver.class, Map.class)
                        .getParameterTypes()[0])
                .isEqualTo(ShardResolver.class);
        for (Class<?> type : new Class<?>[] {ShardedDataSource.class, ReshardingPlan.class, ShardResolvers.class}) {
            for (java.lang.reflect.Executable e : concat(type.getConstructors(), type.getMethods())) {
                assertThat(e.getParameterTypes())
                        .as("%s takes no placement", e)
                        .doesNotContain(LocalBoundedLoadPlacement.class);
            }
        }
    }

    private static List<java.lang.reflect.Executable> concat(
            java.lang.reflect.Executable[] a, java.lang.reflect.Executable[] b) {
        List<java.lang.reflect.Executable> out = new ArrayList<>(List.of(a));
        out.addAll(List.of(b));
        out.removeIf(e -> e.getDeclaringClass() == Object.class);
        return out;
    }

    @Test
    void jumpFromNToNPlusOneMovesAboutOneInNPlusOneKeysAllToTheNewShard() {
        for (int n : new int[] {1, 4, 10, 31}) {
            ReshardingPlan plan = ReshardingPlan.compute(
                    new JumpShardResolver<>(KeyHasher.ofLong(), names(n)),
                    new JumpShardResolver<>(KeyHasher.ofLong(), names(n + 1)),
                    keys(200_000),
                    move -> assertThat(move.to()).isEqualTo("s" + n));
            assertThat(plan.movedFraction())
                    .as("N=%d", n)
                    .isCloseTo(1.0 / (n + 1), org.assertj.core.data.Offset.offset(0.01));
        }
    }

    @Test
    void removingARendezvousNodeMovesOnlyItsKeysAndAddingAWeightedNodeMovesItsShare() {
        Map<String, Double> four = new LinkedHashMap<>(Map.of("a", 1.0, "b", 1.0, "c", 1.0, "d", 1.0));
        RendezvousShardResolver<Long> before = new RendezvousShardResolver<>(KeyHasher.ofLong(), four);
        Map<String, Double> three = new LinkedHashMap<>(four);
        three.remove("c");
        ReshardingPlan removal = ReshardingPlan.compute(
                before, new RendezvousShardResolver<>(KeyHasher.ofLong(), three), keys(200_000), m -> {});
        assertThat(removal.flows().keySet()).containsExactly("c");
        assertThat(removal.moved()).isEqualTo(removal.before().get("c"));

        Map<String, Double> five = new LinkedHashMap<>(four);
        five.put("e", 2.0); // weight 2 of total 6
        ReshardingPlan addition = ReshardingPlan.compute(
                before,
                new RendezvousShardResolver<>(KeyHasher.ofLong(), five),
                keys(200_000),
                m -> assertThat(m.to()).isEqualTo("e"));
        assertThat(addition.movedFraction()).isCloseTo(2.0 / 6, org.assertj.core.data.Offset.offset(0.01));
        System.out.println("rendezvous: " + removal + "; " + addition);
    }

    @Test
    void weightsShareKeysInProportion() {
        RendezvousShardResolver<Long> r =
                new RendezvousShardResolver<>(KeyHasher.ofLong(), Map.of("small", 1.0, "big", 3.0));
        ReshardingPlan counts = ReshardingPlan.compute(r, r, keys(200_000), m -> {});
        assertThat(counts.moved()).isZero();
        assertThat(counts.after().get("big") / 200_000.0).isCloseTo(0.75, org.assertj.core.data.Offset.offset(0.01));
    }

    @Test
    void overridesPinHotTenantsAndAreCounted() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        ShardResolver<String> base = new JumpShardResolver<>(KeyHasher.ofString(), names(4));
        String natural = base.shardFor("acme");
        String other = natural.equals("s0") ? "s1" : "s0";
        ShardResolver<String> r =
                ShardResolvers.metered(ShardResolvers.withOverrides(base, Map.of("acme", other)), registry, "tenants");
        assertThat(r.shardFor("acme")).isEqualTo(other);
        assertThat(r.shardFor("globex")).isEqualTo(base.shardFor("globex"));
        assertThat(registry.get("headroom.shard.lookups")
                        .tag("strategy", "jump")
                        .counter()
                        .count())
                .isEqualTo(2);
        assertThat(registry.get("headroom.shard.override.hits").counter().count())
                .isEqualTo(1);
        assertThatThrownBy(() -> ShardResolvers.withOverrides(base, Map.of("ceo@acme.example", "s9")))
                .hasMessageContaining("overrides: a key of type java.lang.String is pinned to unknown shard 's9'")
                .message()
                .as("the key is user data and stays out of the message")
                .doesNotContain("ceo@acme.example");
    }

    @Test
    void aResolverReturningAShardOutsideItsOwnSetFailsNamingTheShard() {
        ShardResolver<Long> lying = new ShardResolver<>() {
            @Override
            public String shardFor(Long key) {
                return "eu-9";
            }

            @Override
            public Set<String> shards() {
                return Set.of("eu-1");
            }

            @Override
            public String strategy() {
                return "lying";
            }
        };
        ShardedDataSource<Long> sharded =
                new ShardedDataSource<>(Long.class, lying, Map.of("eu-1", new org.postgresql.ds.PGSimpleDataSource()));
        assertThatThrownBy(() -> sharded.forKey(1L))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("'eu-9'")
                .hasMessageContaining("eu-1");
    }

    @Test
    void badTopologiesNameTheField() {
        KeyHasher<Long> h = KeyHasher.ofLong();
        assertThatThrownBy(() -> JumpShardResolver.numbered(h, 0))
                .hasMessageContaining("shard count must be >= 1, got 0");
        assertThatThrownBy(() -> new JumpShardResolver<>(h, List.of()))
                .hasMessageContaining("shardNames must name at least 1");
        assertThatThrownBy(() -> new JumpShardResolver<>(h, List.of("a", "b", "a")))
                .hasMessageContaining("shardNames: name 'a' appears twice");
        assertThatThrownBy(() -> new RendezvousShardResolver<>(h, Map.of("a", -1.0)))
                .hasMessageContaining("weights: node 'a' has weight -1.0");
        assertThatThrownBy(() -> new RendezvousShardResolver<>(h, Map.of("a", Double.NaN)))
                .hasMessageContaining("must be positive and finite");
        assertThatThrownBy(() -> RendezvousShardResolver.of(
                        h, List.of(new RendezvousShardResolver.Node("a", 1), new RendezvousShardResolver.Node("a", 2))))
                .hasMessageContaining("nodes: node name 'a' appears twice");
        assertThatThrownBy(() -> new RendezvousShardResolver<>(h, Map.of())).hasMessageContaining("at least 1 node");
        assertThatThrownBy(() -> new LocalBoundedLoadPlacement<>(h, List.of("a", "a"), 0.1, 10))
                .hasMessageContaining("nodes: name 'a' appears twice");
        assertThatThrownBy(() -> new LocalBoundedLoadPlacement<>(h, List.of("a"), 0, 10))
                .hasMessageContaining("epsilon must be a positive");
        assertThatThrownBy(() -> new LocalBoundedLoadPlacement<>(h, List.of("a"), 0.1, 0))
                .hasMessageContaining("virtualNodes must be >= 1");
        assertThatThrownBy(() -> JumpShardResolver.numbered(h, 3).shardFor(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("key");
        List<String> blank = new ArrayList<>(List.of("a", " "));
        assertThatThrownBy(() -> new JumpShardResolver<>(h, blank)).hasMessageContaining("a name is blank");
    }
}
