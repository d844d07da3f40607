package dev.headroom.benchmarks;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.ConsistencyToken;
import dev.headroom.db.PostgresLagProbe;
import dev.headroom.db.RoutingDataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Taking and returning a connection through {@link RoutingDataSource} beside the raw HikariCP pools
 * it routes to (the same pool objects, same run). Each operation takes a connection, creates a
 * statement (which makes the router take its physical connection; no round trip in pgjdbc) and
 * closes both. Needs the primary on 5432 and the replica on 5433 ({@code scripts/services up}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RouterBenchmark {

    private HikariDataSource primaryPool;
    private HikariDataSource replicaPool;
    private RoutingDataSource router;
    private ConsistencyToken replayedToken;

    @Setup(Level.Trial)
    public void setUp() throws SQLException {
        primaryPool = pool("bench-primary", env("HEADROOM_PG_URL", "jdbc:postgresql://127.0.0.1:5432/test"));
        replicaPool = pool("bench-replica", env("HEADROOM_PG_REPLICA_URL", "jdbc:postgresql://127.0.0.1:5433/test"));
        router = RoutingDataSource.builder("bench")
                .primary(primaryPool)
                .replica("r1", replicaPool)
                .probeInterval(Duration.ofSeconds(1))
                .build();
        router.probeNow();
        if (!router.isServing("r1")) {
            throw new IllegalStateException("replica not serving: run scripts/services up");
        }
        // A position every replica has replayed: the cached probe value satisfies it.
        replayedToken = ConsistencyToken.parse(new PostgresLagProbe().encode(0));
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }

    private static HikariDataSource pool(String name, String url) {
        HikariConfig cfg = new HikariConfig();
        cfg.setJdbcUrl(url);
        cfg.setUsername("postgres");
        cfg.setPoolName(name);
        cfg.setMaximumPoolSize(4);
        return new HikariDataSource(cfg);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        router.close();
        primaryPool.close();
        replicaPool.close();
    }

    private static Connection use(Connection c) throws SQLException {
        try (Statement ignored = c.createStatement()) {
            return c;
        }
    }

    @Benchmark
    public Connection rawHikariPrimary() throws SQLException {
        try (Connection c = primaryPool.getConnection()) {
            return use(c);
        }
    }

    @Benchmark
    public Connection routerPrimary() throws SQLException {
        try (Connection c = router.getConnection()) {
            return use(c);
        }
    }

    @Benchmark
    public Connection rawHikariReplicaReadOnly() throws SQLException {
        try (Connection c = replicaPool.getConnection()) {
            c.setReadOnly(true);
            return use(c);
        }
    }

    @Benchmark
    public Connection routerReplicaReadOnly() throws SQLException {
        try (Connection c = router.getConnection()) {
            c.setReadOnly(true);
            return use(c);
        }
    }

    /** A replica read by scope, no token: the baseline for the token check below. */
    @Benchmark
    public Connection routerReplicaScope() throws SQLException {
        return router.replica(() -> {
            try (Connection c = router.getConnection()) {
                return use(c);
            }
        });
    }

    /** A replica read with a token the last probe already satisfies: the read-your-writes fast path. */
    @Benchmark
    public Connection routerReplicaWithCachedToken() throws SQLException {
        return router.replica(replayedToken, () -> {
            try (Connection c = router.getConnection()) {
                return use(c);
            }
        });
    }

    /** getConnection() + close() with no statement: the router takes no physical connection at all. */
    @Benchmark
    public Connection routerGetAndCloseOnly() throws SQLException {
        try (Connection c = router.getConnection()) {
            return c;
        }
    }
}
