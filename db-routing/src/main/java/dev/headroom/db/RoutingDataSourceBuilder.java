package dev.headroom.db;

import com.zaxxer.hikari.HikariConfig;
import dev.headroom.core.Ticker;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;

/**
 * Configures a {@link RoutingDataSource}. Obtain one with {@link RoutingDataSource#builder(String)}.
 * Not thread-safe; {@link #build()} validates everything and names the offending setting.
 */
public final class RoutingDataSourceBuilder {
    final String name;

    @Nullable
    Object primary; // String URL or DataSource

    final Map<String, Object> replicas = new LinkedHashMap<>();

    @Nullable
    Consumer<HikariConfig> poolConfig;

    Duration probeInterval = Duration.ofSeconds(1);

    @Nullable
    private Duration probeTimeoutSetting;

    Duration probeTimeout = Duration.ofMillis(750);
    long maxLagBytes = 64L * 1024 * 1024;
    Duration maxLag = Duration.ofSeconds(5);
    int readmitProbes = 2;
    int minServingReplicas;
    boolean failWhenNoReplica;
    Duration maxTokenWait = Duration.ofMillis(500);
    int maxTokenWaiters = 64;
    boolean pinCriticalToPrimary = true;
    ReplicaSelector selector = ReplicaSelector.roundRobin();
    LagProbe probe = new PostgresLagProbe();

    @Nullable
    MeterRegistry meterRegistry;

    Ticker ticker = Ticker.system();

    RoutingDataSourceBuilder(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isBlank()) {
            throw new IllegalArgumentException("name must not be blank");
        }
        this.name = name;
    }

    /**
     * The primary as a JDBC URL; the router builds (and closes) a HikariCP pool for it.
     *
     * @throws IllegalArgumentException if {@code jdbcUrl} does not start with {@code jdbc:}
     */
    public RoutingDataSourceBuilder primary(String jdbcUrl) {
        this.primary = jdbcUrl("primary", jdbcUrl);
        return this;
    }

    /** The primary as an existing DataSource (typically a pool); the router does not close it. */
    public RoutingDataSourceBuilder primary(DataSource dataSource) {
        this.primary = Objects.requireNonNull(dataSource, "primary");
        return this;
    }

    /**
     * Adds a replica by JDBC URL; the router builds (and closes) its pool. A replica that is down at
     * start does not prevent the start: it begins ejected until a probe reaches it.
     *
     * @throws IllegalArgumentException if the name is blank or already used, or the URL is not JDBC
     */
    public RoutingDataSourceBuilder replica(String name, String jdbcUrl) {
        replicas.put(replicaName(name), jdbcUrl("replica '" + name + "'", jdbcUrl));
        return this;
    }

    /** Adds a replica as an existing DataSource; the router does not close it. */
    public RoutingDataSourceBuilder replica(String name, DataSource dataSource) {
        replicas.put(replicaName(name), Objects.requireNonNull(dataSource, "dataSource"));
        return this;
    }

    /**
     * Adjusts every HikariCP pool the router builds (after its defaults: pool name
     * {@code headroom-<router>-<server>}, start even if the server is down, and for replicas a 1 s
     * connection timeout so that a dead replica is given up on quickly).
     */
    public RoutingDataSourceBuilder poolConfig(Consumer<HikariConfig> poolConfig) {
        this.poolConfig = Objects.requireNonNull(poolConfig, "poolConfig");
        return this;
    }

    /** How often each replica's lag is measured. Default 1 s. */
    public RoutingDataSourceBuilder probeInterval(Duration interval) {
        this.probeInterval = positive("probeInterval", interval);
        return this;
    }

    /**
     * How long one probe of one server may take (opening its probe connection included) before the
     * server counts as unreachable for that round. Servers are probed in parallel, each on a
     * connection of its own outside its pool, so a hung server delays no other server's probe and a
     * saturated pool does not delay its server's. A server that fails to answer in time twice in a
     * row counts as unreachable (a replica is ejected; for the primary, writes fail fast); one slow
     * answer counts for nothing. Best kept below {@code probeInterval} (a round waits at most this
     * long, then the next starts {@code probeInterval} later). Default three quarters of {@code
     * probeInterval}, and at least 500 ms.
     */
    public RoutingDataSourceBuilder probeTimeout(Duration timeout) {
        this.probeTimeoutSetting = positive("probeTimeout", timeout);
        return this;
    }

    /** Byte lag past which a replica is ejected. Default 64 MiB. */
    public RoutingDataSourceBuilder maxLagBytes(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("maxLagBytes must be >= 0, got " + bytes);
        }
        this.maxLagBytes = bytes;
        return this;
    }

    /**
     * Staleness past which a replica is ejected: how long ago the primary was last seen at or before
     * the replica's replay position (the router samples the primary's position every probe, and keeps
     * twice this much of that history). Default 5 s.
     */
    public RoutingDataSourceBuilder maxLag(Duration maxLag) {
        this.maxLag = positive("maxLag", maxLag);
        return this;
    }

    /**
     * How many consecutive probes within half of both bounds an ejected replica needs before it
     * serves again. Default 2; the gap between the ejection bound and half of it keeps a replica
     * hovering at the bound from flapping.
     */
    public RoutingDataSourceBuilder readmitAfterProbes(int probes) {
        if (probes < 1) {
            throw new IllegalArgumentException("readmitAfterProbes must be >= 1, got " + probes);
        }
        this.readmitProbes = probes;
        return this;
    }

    /**
     * Cascade guard: when lag would eject so many replicas that fewer than {@code min} serve, the
     * least lagging lag-ejected ones keep serving (counted in {@code headroom.db.replica.kept}) rather
     * than every read moving to the primary at once. Unreachable replicas are never kept. Default 0
     * (off).
     */
    public RoutingDataSourceBuilder minServingReplicas(int min) {
        if (min < 0) {
            throw new IllegalArgumentException("minServingReplicas must be >= 0, got " + min);
        }
        this.minServingReplicas = min;
        return this;
    }

    /**
     * When no replica can serve a replica read, throw {@link NoReplicaAvailableException} instead of
     * using the primary (the default).
     */
    public RoutingDataSourceBuilder failWhenNoReplica() {
        this.failWhenNoReplica = true;
        return this;
    }

    /**
     * How long a read with a consistency token may wait for a replica to replay it before going to
     * the primary. Default 500 ms; zero means "never wait".
     */
    public RoutingDataSourceBuilder maxTokenWait(Duration wait) {
        Objects.requireNonNull(wait, "maxTokenWait");
        if (wait.isNegative()) {
            throw new IllegalArgumentException("maxTokenWait must be >= 0, got " + wait);
        }
        this.maxTokenWait = wait;
        return this;
    }

    /**
     * How many token reads may wait for a replica to replay their token at once; a read beyond that
     * goes to the primary at once ({@code headroom.db.token.reads{result=overflow}}). Waiting reads
     * hold no connection (one poller per replica asks for its replay position), so this bounds
     * parked request threads, not pool use. Default 64.
     */
    public RoutingDataSourceBuilder maxTokenWaiters(int waiters) {
        if (waiters < 0) {
            throw new IllegalArgumentException("maxTokenWaiters must be >= 0, got " + waiters);
        }
        this.maxTokenWaiters = waiters;
        return this;
    }

    /** Whether reads in a {@code Criticality.CRITICAL} request context go to the primary. Default true. */
    public RoutingDataSourceBuilder pinCriticalToPrimary(boolean pin) {
        this.pinCriticalToPrimary = pin;
        return this;
    }

    /** How a replica is chosen among those serving. Default {@link ReplicaSelector#roundRobin()}. */
    public RoutingDataSourceBuilder selector(ReplicaSelector selector) {
        this.selector = Objects.requireNonNull(selector, "selector");
        return this;
    }

    /** The database's replication positions. Default {@link PostgresLagProbe}. */
    public RoutingDataSourceBuilder lagProbe(LagProbe probe) {
        this.probe = Objects.requireNonNull(probe, "lagProbe");
        return this;
    }

    /** Where {@code headroom.db.*} metrics go. Default: none registered. */
    public RoutingDataSourceBuilder meterRegistry(MeterRegistry registry) {
        this.meterRegistry = Objects.requireNonNull(registry, "meterRegistry");
        return this;
    }

    /** The time source for token waits, mainly for tests. Default {@link Ticker#system()}. */
    public RoutingDataSourceBuilder ticker(Ticker ticker) {
        this.ticker = Objects.requireNonNull(ticker, "ticker");
        return this;
    }

    /**
     * Builds the router and starts probing. Never connects synchronously: a server that is down
     * at start is found by the first probe.
     *
     * @throws IllegalStateException if no primary was given
     */
    public RoutingDataSource build() {
        if (primary == null) {
            throw new IllegalStateException(
                    "router '" + name + "': primary is required: call primary(jdbcUrl) or primary(dataSource)");
        }
        Duration threeQuarters = probeInterval.multipliedBy(3).dividedBy(4);
        Duration floor = Duration.ofMillis(500);
        probeTimeout = probeTimeoutSetting != null
                ? probeTimeoutSetting
                : threeQuarters.compareTo(floor) < 0 ? floor : threeQuarters;
        return new RoutingDataSource(this);
    }

    private String replicaName(String replicaName) {
        Objects.requireNonNull(replicaName, "replica name");
        if (replicaName.isBlank()) {
            throw new IllegalArgumentException("replica name must not be blank");
        }
        if (replicas.containsKey(replicaName)) {
            throw new IllegalArgumentException("replica name '" + replicaName + "' is used twice");
        }
        return replicaName;
    }

    private static String jdbcUrl(String what, String url) {
        Objects.requireNonNull(url, what + " jdbcUrl");
        if (!url.startsWith("jdbc:")) {
            // Not the URL itself: a URL can carry a password (user:secret@host, ?password=...).
            throw new IllegalArgumentException(what + " jdbcUrl must start with 'jdbc:', got a value of " + url.length()
                    + " characters that does not (not shown: it may hold credentials)");
        }
        return url;
    }

    private static Duration positive(String what, Duration d) {
        Objects.requireNonNull(d, what);
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(what + " must be positive, got " + d);
        }
        return d;
    }
}
