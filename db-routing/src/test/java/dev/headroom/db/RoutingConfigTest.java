package dev.headroom.db;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.headroom.core.ConsistencyToken;
import dev.headroom.db.internal.ReplicaNode;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Configuration, tokens, hysteresis and selectors: everything that needs no database. */
class RoutingConfigTest {

    private static final String NOWHERE = "jdbc:postgresql://127.0.0.1:1/none";

    @Test
    void aBuilderWithoutAPrimaryNamesWhatIsMissing() {
        assertThatThrownBy(() ->
                        RoutingDataSource.builder("r").replica("a", NOWHERE).build())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("primary is required");
    }

    @Test
    void badSettingsNameTheField() {
        RoutingDataSourceBuilder b = RoutingDataSource.builder("r");
        assertThatThrownBy(() -> RoutingDataSource.builder(" ")).hasMessageContaining("name must not be blank");
        assertThatThrownBy(() -> b.primary("postgresql://x"))
                .hasMessageContaining("primary jdbcUrl must start with 'jdbc:'");
        assertThatThrownBy(() -> b.replica("", NOWHERE)).hasMessageContaining("replica name must not be blank");
        b.replica("a", NOWHERE);
        assertThatThrownBy(() -> b.replica("a", NOWHERE)).hasMessageContaining("replica name 'a' is used twice");
        assertThatThrownBy(() -> b.maxLagBytes(-1)).hasMessageContaining("maxLagBytes");
        assertThatThrownBy(() -> b.maxLag(Duration.ZERO)).hasMessageContaining("maxLag must be positive");
        assertThatThrownBy(() -> b.probeInterval(Duration.ofMillis(-1))).hasMessageContaining("probeInterval");
        assertThatThrownBy(() -> b.readmitAfterProbes(0)).hasMessageContaining("readmitAfterProbes");
        assertThatThrownBy(() -> b.minServingReplicas(-1)).hasMessageContaining("minServingReplicas");
        assertThatThrownBy(() -> b.maxTokenWait(Duration.ofMillis(-1))).hasMessageContaining("maxTokenWait");
        assertThatThrownBy(() -> b.selector(null))
                .isInstanceOf(NullPointerException.class)
                .hasMessage("selector");
    }

    @Test
    void serversThatAreDownAtStartDoNotPreventStart() {
        try (RoutingDataSource router = RoutingDataSource.builder("down")
                .primary(NOWHERE)
                .replica("a", NOWHERE)
                .probeInterval(Duration.ofSeconds(60))
                .build()) {
            assertThat(router.isServing("a"))
                    .as("unprobed replicas do not serve")
                    .isFalse();
            assertThatThrownBy(() -> router.isServing("b"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no replica 'b' (replicas: [a])");
        }
    }

    @Test
    void tokensRoundTripThroughTheirWireFormAndMalformedOnesAreRefusedAtTheEdgeAndIgnoredInside() throws Exception {
        PostgresLagProbe probe = new PostgresLagProbe();
        long lsn = PostgresLagProbe.parseLsn("16/B374D848");
        assertThat(lsn).isEqualTo((0x16L << 32) | 0xB374D848L);
        String wire = probe.encode(lsn);
        assertThat(wire).isEqualTo("pg.16.B374D848");
        assertThat(probe.decode(ConsistencyToken.parse(wire).toString())).isEqualTo(lsn);
        assertThat(probe.decode(probe.encode(0))).isZero();

        assertThatThrownBy(() -> probe.decode("mysql.1.2")).hasMessageContaining("not issued by PostgresLagProbe");
        assertThatThrownBy(() -> probe.decode("pg.zz.1")).hasMessageContaining("'pg.zz.1' is malformed");
        assertThatThrownBy(() -> probe.decode("pg.1")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> probe.decode("pg.-1.5")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> probe.decode("pg.123456789.0")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> probe.decode("pg.80000000.0"))
                .as("an LSN past 2^63 would decode negative and turn read-your-writes off")
                .hasMessageContaining("malformed");
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (RoutingDataSource router = RoutingDataSource.builder("t")
                .primary(NOWHERE)
                .meterRegistry(registry)
                .build()) {
            assertThat(router.token("pg.16.B374D848"))
                    .map(ConsistencyToken::value)
                    .contains("pg.16.B374D848");
            assertThat(router.token("x.1")).as("another router's format").isEmpty();
            assertThat(router.token("pg.80000000.0")).isEmpty();
            assertThat(router.token(null)).isEmpty();
            assertThat(router.token(" ")).isEmpty();
            // a token that reaches the router anyway is no token: never an exception, counted
            java.sql.Connection c = router.replica(ConsistencyToken.parse("x.1"), router::getConnection);
            c.close();
            try (var scope = dev.headroom.core.RequestContext.current()
                    .withConsistencyToken(ConsistencyToken.parse("pg.80000000.0"))
                    .open()) {
                router.getConnection().close(); // writes take connections this way too
            }
            assertThat(registry.get("headroom.db.token.invalid").counter().count())
                    .isEqualTo(2);
        }
    }

    private static ReplicaNode node(String name) {
        return new ReplicaNode(
                name, new org.postgresql.ds.PGSimpleDataSource(), new SimpleMeterRegistry().counter("c"));
    }

    private static ReplicaNode.Measurement lag(long bytes) {
        return new ReplicaNode.Measurement(1000 - bytes, bytes, 0, true, true, 0);
    }

    @Test
    void ejectionHasHysteresisSoALagHoveringAtTheBoundDoesNotFlap() {
        ReplicaNode n = node("a");
        long max = 1000;
        assertThat(n.onProbe(lag(10), max, Long.MAX_VALUE, 2)).isSameAs(ReplicaNode.ADMITTED);
        assertThat(n.onProbe(lag(1001), max, Long.MAX_VALUE, 2)).isEqualTo(ReplicaNode.Ejection.LAG);
        assertThat(n.serving()).isFalse();
        // hovering just under the bound: not enough to come back
        for (int i = 0; i < 20; i++) {
            assertThat(n.onProbe(lag(i % 2 == 0 ? 990 : 1010), max, Long.MAX_VALUE, 2))
                    .isNull();
            assertThat(n.serving()).isFalse();
        }
        // within half the bound, but interrupted: the count starts again
        assertThat(n.onProbe(lag(400), max, Long.MAX_VALUE, 2)).isNull();
        assertThat(n.onProbe(lag(700), max, Long.MAX_VALUE, 2)).isNull();
        assertThat(n.onProbe(lag(400), max, Long.MAX_VALUE, 2)).isNull();
        assertThat(n.onProbe(lag(0), max, Long.MAX_VALUE, 2)).isSameAs(ReplicaNode.READMITTED);
        assertThat(n.serving()).isTrue();
        // time lag ejects too
        assertThat(n.onProbe(
                        new ReplicaNode.Measurement(1, 0, Duration.ofSeconds(6).toNanos(), true, true, 0),
                        max,
                        Duration.ofSeconds(5).toNanos(),
                        2))
                .isEqualTo(ReplicaNode.Ejection.LAG);
    }

    @Test
    void aReplicaIsAdmittedOnlyOnALagKnownToBeWithinBoundsAndEjectedOnceItsLowerBoundPassesMaxLag() {
        ReplicaNode n = node("a");
        long maxNanos = Duration.ofSeconds(5).toNanos();
        ReplicaNode.Measurement behindEverySample = new ReplicaNode.Measurement(1, 0, 1_000, false, false, 0);
        assertThat(n.onProbe(behindEverySample, 1000, maxNanos, 2))
                .as("behind every primary sample: not known to be fresh, not admitted")
                .isNull();
        assertThat(n.serving()).isFalse();
        assertThat(n.onProbe(lag(0), 1000, maxNanos, 2)).isSameAs(ReplicaNode.ADMITTED);
        assertThat(n.onProbe(new ReplicaNode.Measurement(1, 0, maxNanos + 1, false, false, 0), 1000, maxNanos, 2))
                .as("known to be more than maxLag behind")
                .isEqualTo(ReplicaNode.Ejection.LAG);
        assertThat(n.receiving()).isFalse();
    }

    @Test
    void positionsJustPastAWalPageHeaderMoveBackToThePageBoundary() {
        long segment = 16L * 1024 * 1024;
        assertThat(PostgresLagProbe.outOfPageHeader(3 * 8192 + 24, segment, 8192))
                .as("a short page header")
                .isEqualTo(3 * 8192);
        assertThat(PostgresLagProbe.outOfPageHeader(5 * segment + 40, segment, 8192))
                .as("a segment's first page has a long header")
                .isEqualTo(5 * segment);
        assertThat(PostgresLagProbe.outOfPageHeader(3 * 8192 + 40, segment, 8192))
                .as("offset 40 in a later page can be the end of a record continued from the page before")
                .isEqualTo(3 * 8192 + 40);
        assertThat(PostgresLagProbe.outOfPageHeader(3 * 8192 + 48, segment, 8192))
                .isEqualTo(3 * 8192 + 48);
    }

    @Test
    void anUnreachableReplicaComesBackOnlyThroughProbes() {
        ReplicaNode n = node("a");
        n.onProbe(lag(0), 1000, Long.MAX_VALUE, 2);
        assertThat(n.eject(ReplicaNode.Ejection.UNREACHABLE)).isTrue();
        assertThat(n.eject(ReplicaNode.Ejection.UNREACHABLE)).as("already out").isFalse();
        assertThat(n.ejection()).isEqualTo(ReplicaNode.Ejection.UNREACHABLE);
        assertThat(n.onProbe(lag(0), 1000, Long.MAX_VALUE, 2)).isNull();
        assertThat(n.onProbe(lag(0), 1000, Long.MAX_VALUE, 2)).isSameAs(ReplicaNode.READMITTED);
    }

    @Test
    void replayPositionsSeenOnTheReadPathNeverMoveBackwards() {
        ReplicaNode n = node("a");
        n.observeReplay(50);
        n.observeReplay(40);
        assertThat(n.replayPosition()).isEqualTo(50);
    }

    @Test
    void selectorsSpreadAndPreferTheLessLoadedOrLessLagging() {
        ReplicaNode a = node("a");
        ReplicaNode b = node("b");
        ReplicaNode c = node("c");
        List<ReplicaNode> all = List.of(a, b, c);

        ReplicaSelector rr = ReplicaSelector.roundRobin();
        Map<String, Integer> picks = new HashMap<>();
        for (int i = 0; i < 300; i++) {
            picks.merge(rr.select(all).name(), 1, Integer::sum);
        }
        assertThat(picks).containsEntry("a", 100).containsEntry("b", 100).containsEntry("c", 100);

        a.onProbe(lag(500), 1000, Long.MAX_VALUE, 2);
        b.onProbe(lag(20), 1000, Long.MAX_VALUE, 2);
        c.onProbe(lag(300), 1000, Long.MAX_VALUE, 2);
        assertThat(ReplicaSelector.leastLag().select(all)).isSameAs(b);

        a.inFlightCounter().set(10);
        b.inFlightCounter().set(10);
        ReplicaSelector p2c = ReplicaSelector.powerOfTwoChoices();
        int idleChosen = 0;
        for (int i = 0; i < 3000; i++) {
            if (p2c.select(all) == c) {
                idleChosen++;
            }
        }
        // c is in 2 of the 3 possible pairs and wins both: chosen 2/3 of the time
        assertThat(idleChosen).isBetween(1800, 2200);
        assertThat(ReplicaSelector.powerOfTwoChoices().select(List.of(a))).isSameAs(a);
    }
}
