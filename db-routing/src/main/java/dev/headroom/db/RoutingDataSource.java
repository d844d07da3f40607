package dev.headroom.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.headroom.core.ConsistencyToken;
import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import dev.headroom.core.Ticker;
import dev.headroom.db.internal.LazyConnection;
import dev.headroom.db.internal.PrimaryHistory;
import dev.headroom.db.internal.ProbeConnection;
import dev.headroom.db.internal.Prober;
import dev.headroom.db.internal.ReplayWaits;
import dev.headroom.db.internal.ReplicaNode;
import dev.headroom.db.internal.ReplicaNode.Ejection;
import dev.headroom.db.internal.ReplicaNode.Measurement;
import dev.headroom.db.internal.RouteHint;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.logging.Logger;
import javax.sql.DataSource;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * A {@link DataSource} that sends writes and transactions to the primary and reads to a healthy
 * replica, aware of replication lag and of read-your-writes.
 *
 * <p><b>Routing.</b> Each connection it returns is logical: the physical connection is taken at the
 * first call that needs the database, and from then on every statement uses it, so a transaction
 * never spans two servers. The route is decided then, in this order:
 *
 * <ol>
 *   <li>inside {@link #primary(SqlWork)}: the primary;
 *   <li>a {@link RequestContext} with {@link Criticality#CRITICAL} (unless {@link
 *       RoutingDataSourceBuilder#pinCriticalToPrimary(boolean) turned off}): the primary;
 *   <li>{@code SERIALIZABLE} isolation, which a hot standby refuses: the primary;
 *   <li>after {@code setReadOnly(true)} on the connection, or inside {@link #replica(SqlWork)} or
 *       {@link #replica(ConsistencyToken, SqlWork)} unless the connection was set {@code
 *       setReadOnly(false)} or began a read-write transaction ({@code setAutoCommit(false)} without
 *       {@code setReadOnly(true)}): a replica;
 *   <li>anything else, including a read-write transaction: the primary.
 * </ol>
 *
 * <p>Session settings made before the first statement ({@code setSchema}, {@code
 * setTransactionIsolation}, {@code setClientInfo}, ...) are replayed on the physical connection.
 * A connection on a replica that is then set so that it must not be there ({@code
 * setReadOnly(false)}, {@code setAutoCommit(false)}, {@code SERIALIZABLE}) gives the replica
 * connection back and its next statement goes to the primary; inside a transaction that has run
 * statements on the replica the setter throws {@link SQLException} with SQLState {@code 25006}
 * instead. A write never runs on a replica. Once statements ran on the primary the connection
 * stays there, even after {@code setReadOnly(true)}.
 *
 * <p><b>Replicas and lag.</b> Every {@code probeInterval} the primary and every replica are probed
 * in parallel, each on a connection of its own outside its pool and bounded by {@code
 * probeTimeout} (two silent rounds in a row count as unreachable). A replica's lag is measured
 * against the primary's own position over time: it is how long ago the primary was last seen at or
 * before the replica's replay position (samples once per round, so it may read up to one interval
 * high). So a caught-up replica on a quiet primary has no lag however old its last transaction, a
 * restarted one is readmitted without any write, a long write transaction ejects nothing, and a
 * replica cut off from a primary that writes is ejected once the primary has been past it for
 * {@code maxLag}. A replica past {@code maxLag} or {@code maxLagBytes}, unreachable, or not a
 * replica (promoted) stops serving, and serves again after {@code readmitAfterProbes} probes within
 * half of both bounds. A replica starts unprobed and serves once a probe finds it within bounds.
 *
 * <p><b>Failures.</b> A replica that cannot give a connection (refused, reset), or whose connection
 * broke under a read, is ejected on the spot and its idle pooled connections evicted; the next read
 * moves to another replica or the primary. A replica pool that is merely saturated (HikariCP's
 * timeout, the server reachable) is never ejected: the read fails with the pool's {@link
 * java.sql.SQLTransientConnectionException} after trying the other serving replicas, rather than
 * moving load onto the primary. While the primary does not answer probes, replicas keep serving
 * (measured against its last known position) and connections bound for the primary fail at once
 * with {@link java.sql.SQLTransientConnectionException} until a probe reaches it again.
 *
 * <p><b>Read-your-writes.</b> After a write commits, {@link #consistencyToken()} returns the
 * primary's position; its string form can travel in a cookie or header to another instance, whose
 * {@link #replica(ConsistencyToken, SqlWork)} (or a token in the {@link RequestContext}) reads from
 * a replica known to have replayed it: first by the probes, else by waiting, up to {@code
 * maxTokenWait} or the request's deadline, for the most advanced serving replica to replay it —
 * holding no connection meanwhile (one poller per replica asks for its position), with at most
 * {@code maxTokenWaiters} reads waiting; failing that, from the primary. A read never sees data
 * older than its token. A token ahead of everything the primary has is lowered to the primary's
 * position (it cannot need more); one the router cannot decode counts as no token and never fails a
 * call, and {@link #token(String)} validates tokens where they enter.
 *
 * <p><b>Staleness budgets.</b> {@link #replica(java.time.Duration, SqlWork)} (or {@link
 * RequestContext#maxStaleness()}) reads from a replica whose data is at most that old, whatever
 * {@code maxLag} says.
 *
 * <p>With no replica serving, replica reads use the primary, or throw {@link
 * NoReplicaAvailableException} if {@link RoutingDataSourceBuilder#failWhenNoReplica()} was set.
 *
 * <p>Thread-safe. Closing it stops the probe and closes the pools it built (not DataSources given
 * to it).
 */
public final class RoutingDataSource implements DataSource, AutoCloseable {
    private static final org.slf4j.Logger log = LoggerFactory.getLogger(RoutingDataSource.class);
    private static final long TOKEN_POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

    /** The least time between two queries on the primary made to check tokens ahead of it. */
    private static final long TOKEN_REFRESH_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    /** How much of the primary's position history is kept at least: the longest staleness budget. */
    static final java.time.Duration HISTORY = java.time.Duration.ofMinutes(15);

    private static final int MAX_SAMPLES = 16_384;

    private final String name;
    private final DataSource primary;
    private final List<HikariDataSource> owned = new ArrayList<>();
    private final List<ReplicaNode> nodes;
    private final Map<String, ReplicaNode> byName = new LinkedHashMap<>();
    private volatile List<ReplicaNode> serving = List.of();

    @SuppressWarnings("ThreadLocalUsage") // per router on purpose: one router's scope must not route another's reads
    private final ThreadLocal<RouteHint> scope = new ThreadLocal<>();

    private final LagProbe probe;
    private final ReplicaSelector selector;
    private final Ticker ticker;
    private final long maxLagBytes;
    private final long maxLagNanos;
    private final int readmitProbes;
    private final int minServing;
    private final boolean failWhenNoReplica;
    private final long maxTokenWaitNanos;
    private final boolean pinCritical;
    private final ScheduledExecutorService scheduler;
    private final Prober prober;
    private final LazyConnection.Opener opener = new LazyConnection.Opener() {
        @Override
        public Connection open(LazyConnection connection) throws SQLException {
            return RoutingDataSource.this.open(connection);
        }

        @Override
        public void replicaBroken(ReplicaNode node) {
            ejectFromReadPath(node, new SQLException("a connection to it broke under a statement", "08006"));
        }
    };
    /** Why the last probe round could not ask the primary; null while it answers. */
    private volatile @Nullable Exception primaryDown;

    private volatile long primaryDownSince;
    private final Object probeLock = new Object();

    private final MeterRegistry registry;
    private final Counter primaryRouted;
    private final Counter fallbackNoReplica;
    private final Counter fallbackReplicaFailed;
    private final Counter fallbackStaleness;
    private final Map<TokenResult, Counter> tokenReads = new EnumMap<>(TokenResult.class);
    private final Counter tokensInvalid;
    private final Counter tokensClamped;
    private final Counter tokenChecks;
    private final AtomicInteger kept = new AtomicInteger();
    private final Map<ReplicaNode, ReplayWaits> replayWaits = new java.util.IdentityHashMap<>();
    private final java.util.concurrent.ExecutorService replayPollers;
    private final AtomicInteger tokenWaiters = new AtomicInteger();
    private final int maxTokenWaiters;

    /** The highest primary position known (probes and token checks); tokens above it are checked. */
    private final java.util.concurrent.atomic.AtomicLong primaryKnown = new java.util.concurrent.atomic.AtomicLong(-1);

    private final java.util.concurrent.locks.ReentrantLock primaryRefresh =
            new java.util.concurrent.locks.ReentrantLock();
    private final ProbeConnection tokenProbe;
    private long primaryRefreshStartedAt; // guarded by primaryRefresh; valid once primaryRefreshed >= 0
    private long primaryRefreshed = -1; // guarded by primaryRefresh

    private enum TokenResult {
        /** A replica was known (last probe or token check) to have replayed the token. */
        CACHED,
        /** The read waited for the most advanced serving replica to replay it. */
        WAITED,
        /** No replica replayed it within the wait: the primary served it. */
        FALLBACK,
        /** Too many token reads were waiting already ({@code maxTokenWaiters}): the primary served it. */
        OVERFLOW
    }

    @SuppressWarnings("FutureReturnValueIgnored") // the probe task runs until close() shuts its executor down
    RoutingDataSource(RoutingDataSourceBuilder b) {
        this.name = b.name;
        this.probe = b.probe;
        this.selector = b.selector;
        this.ticker = b.ticker;
        this.maxLagBytes = b.maxLagBytes;
        this.maxLagNanos = b.maxLag.toNanos();
        this.readmitProbes = b.readmitProbes;
        this.minServing = b.minServingReplicas;
        this.failWhenNoReplica = b.failWhenNoReplica;
        this.maxTokenWaitNanos = b.maxTokenWait.toNanos();
        this.pinCritical = b.pinCriticalToPrimary;
        this.registry = b.meterRegistry != null ? b.meterRegistry : new CompositeMeterRegistry();
        this.primary = dataSource("primary", java.util.Objects.requireNonNull(b.primary), false, b.poolConfig);
        List<ProbeConnection> replicaProbes = new ArrayList<>();
        this.tokenProbe = ProbeConnection.of("primary-tokens", primary, b.probeTimeout);
        this.primaryRouted = connections("primary", "primary");
        this.fallbackNoReplica = fallbacks("no_replica");
        this.fallbackReplicaFailed = fallbacks("replica_failed");
        this.fallbackStaleness = fallbacks("staleness");
        for (TokenResult r : TokenResult.values()) {
            tokenReads.put(
                    r,
                    Counter.builder("headroom.db.token.reads")
                            .description("reads with a consistency token, by how the token was satisfied")
                            .tags("router", name, "result", r.name().toLowerCase(java.util.Locale.ROOT))
                            .register(registry));
        }
        this.maxTokenWaiters = b.maxTokenWaiters;
        this.tokensInvalid = Counter.builder("headroom.db.token.invalid")
                .description("consistency tokens this router could not decode, treated as absent")
                .tag("router", name)
                .register(registry);
        this.tokensClamped = Counter.builder("headroom.db.token.clamped")
                .description("tokens ahead of the primary's position, lowered to it")
                .tag("router", name)
                .register(registry);
        this.tokenChecks = Counter.builder("headroom.db.token.checks")
                .description("queries on the primary made to check tokens ahead of its known position")
                .tag("router", name)
                .register(registry);
        this.replayPollers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "headroom-db-replay-" + name);
            t.setDaemon(true);
            return t;
        });
        List<ReplicaNode> list = new ArrayList<>();
        b.replicas.forEach((replicaName, source) -> {
            ReplicaNode node = new ReplicaNode(
                    replicaName,
                    dataSource(replicaName, source, true, b.poolConfig),
                    connections("replica", replicaName));
            list.add(node);
            replicaProbes.add(ProbeConnection.of(replicaName, node.dataSource(), b.probeTimeout));
            replayWaits.put(
                    node,
                    new ReplayWaits(
                            node,
                            ProbeConnection.of(replicaName + "-replay", node.dataSource(), b.probeTimeout),
                            probe,
                            replayPollers,
                            TOKEN_POLL_NANOS));
            byName.put(replicaName, node);
            replicaGauges(node);
        });
        this.nodes = List.copyOf(list);
        Gauge.builder("headroom.db.replica.kept", kept, AtomicInteger::get)
                .description("lag-ejected replicas kept serving by the minServingReplicas guard")
                .tag("router", name)
                .register(registry);
        Gauge.builder("headroom.db.primary.up", this, r -> r.primaryDown == null ? 1 : 0)
                .description("1 while the primary answers the router's probes")
                .tag("router", name)
                .register(registry);
        // History to measure lags up to twice maxLag, and at least HISTORY (per-read staleness budgets
        // beyond maxLag need it), at one sample per probe round (equal positions collapse into one).
        java.time.Duration span = b.maxLag.multipliedBy(2).compareTo(HISTORY) > 0 ? b.maxLag.multipliedBy(2) : HISTORY;
        int samples = (int) Math.min(MAX_SAMPLES, span.toNanos() / b.probeInterval.toNanos() + 4);
        this.prober = new Prober(
                name,
                probe,
                ticker,
                ProbeConnection.of("primary", primary, b.probeTimeout),
                nodes,
                replicaProbes,
                b.probeTimeout,
                new PrimaryHistory(span, samples),
                new ProbeListener());
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "headroom-db-probe-" + name);
            t.setDaemon(true);
            return t;
        });
        scheduler.scheduleWithFixedDelay(this::probeQuietly, 0, b.probeInterval.toNanos(), TimeUnit.NANOSECONDS);
    }

    /**
     * Starts configuring a router.
     *
     * @param name names the router in metrics, logs and pool names
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public static RoutingDataSourceBuilder builder(String name) {
        return new RoutingDataSourceBuilder(name);
    }

    // ---- DataSource ----------------------------------------------------------------------

    /**
     * Returns a logical connection; no physical connection is taken until the first statement (see
     * the class documentation for how it is routed then). Never blocks.
     */
    @Override
    public Connection getConnection() {
        RouteHint hint = scope.get();
        RequestContext ctx = RequestContext.current();
        boolean critical = pinCritical && ctx.criticality() == Criticality.CRITICAL;
        long token = hint != null ? hint.tokenPosition() : -1;
        Optional<ConsistencyToken> contextToken = ctx.consistencyToken();
        if (contextToken.isPresent()) {
            token = Math.max(token, positionOrAbsent(contextToken.get())); // both must be honoured
        }
        long budget = hint != null ? hint.maxStalenessNanos() : -1;
        if (budget < 0) {
            Optional<java.time.Duration> fromContext = ctx.maxStaleness();
            if (fromContext.isPresent()) {
                budget = dev.headroom.core.Deadline.saturatedNanos(fromContext.get());
            }
        }
        if (hint == null && token < 0 && !critical && budget < 0) {
            hint = RouteHint.NONE;
        } else if (hint == null || hint.tokenPosition() != token || critical || hint.maxStalenessNanos() != budget) {
            hint = new RouteHint(hint == null ? null : hint.scope(), token, critical, budget);
        }
        return new LazyConnection(opener, hint);
    }

    /** Not supported: each server's credentials belong to its pool. */
    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        throw new SQLFeatureNotSupportedException(
                "router '" + name + "': credentials are configured per pool; use getConnection()");
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
        return primary.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
        primary.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
        primary.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
        return primary.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        return primary.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        return primary.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || primary.isWrapperFor(iface);
    }

    // ---- scopes and tokens ---------------------------------------------------------------

    /**
     * Runs {@code work} with every connection it obtains from this router routed to the primary
     * (innermost scope wins).
     */
    public <T> T primary(SqlWork<T> work) throws SQLException {
        return inScope(new RouteHint(Route.PRIMARY, -1, false), work);
    }

    /** Runs {@code work} with the connections it obtains from this router routed to a replica. */
    public <T> T replica(SqlWork<T> work) throws SQLException {
        return inScope(new RouteHint(Route.REPLICA, -1, false), work);
    }

    /**
     * Runs {@code work} on a replica that has replayed {@code token}, or on the primary if none has
     * within {@code maxTokenWait} (or the {@link RequestContext} deadline, if sooner). A token this
     * router cannot decode (another router's format, damaged in transit) counts as no token ({@code
     * headroom.db.token.invalid}): the read goes to any serving replica; validate tokens at the edge
     * with {@link #token(String)} to refuse them instead.
     */
    public <T> T replica(ConsistencyToken token, SqlWork<T> work) throws SQLException {
        java.util.Objects.requireNonNull(token, "token");
        return inScope(new RouteHint(Route.REPLICA, positionOrAbsent(token), false), work);
    }

    /**
     * Runs {@code work} with its connections routed to a replica whose data is at most {@code
     * maxStaleness} old — tighter or looser than the router's {@code maxLag}: a replica ejected for
     * lag still serves this call if it is within the budget, a serving one too far behind does not.
     * A replica qualifies if its lag at its last probe plus the time since that probe is within the
     * budget; the router keeps 15 minutes of the primary's history (or twice {@code maxLag}), so a
     * replica further behind than that qualifies for no budget. When none does, the primary serves ({@code headroom.db.fallbacks{reason=staleness}}),
     * or {@link NoReplicaAvailableException} is thrown if {@link
     * RoutingDataSourceBuilder#failWhenNoReplica()} was set. The same budget can come from the
     * {@link RequestContext#maxStaleness()}.
     *
     * @throws IllegalArgumentException if {@code maxStaleness} is negative
     */
    public <T> T replica(java.time.Duration maxStaleness, SqlWork<T> work) throws SQLException {
        java.util.Objects.requireNonNull(maxStaleness, "maxStaleness");
        if (maxStaleness.isNegative()) {
            throw new IllegalArgumentException("maxStaleness must be >= 0, got " + maxStaleness);
        }
        return inScope(
                new RouteHint(Route.REPLICA, -1, false, dev.headroom.core.Deadline.saturatedNanos(maxStaleness)), work);
    }

    /**
     * Parses a token received from outside (a cookie, a header) if it is one this router can use:
     * for edge validation, so an untrusted value is dropped or refused where it enters.
     *
     * @param wire the token's string form; may be null
     * @return the token, or empty if {@code wire} is null, blank, malformed, or not of this router's
     *     format (nothing is counted)
     */
    public Optional<ConsistencyToken> token(@Nullable String wire) {
        if (wire == null || wire.isBlank()) {
            return Optional.empty();
        }
        try {
            ConsistencyToken t = ConsistencyToken.parse(wire);
            probe.decode(t.value());
            return Optional.of(t);
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /**
     * Runs {@code work} under {@code hint}. A nested scope keeps what the outer one required that it
     * does not override: the outer token (the later of the two positions) and the outer staleness
     * budget (the tighter of the two), so an inner {@code replica(...)} cannot drop a read's token.
     */
    private <T> T inScope(RouteHint hint, SqlWork<T> work) throws SQLException {
        java.util.Objects.requireNonNull(work, "work");
        RouteHint outer = scope.get();
        if (outer != null) {
            long token = Math.max(hint.tokenPosition(), outer.tokenPosition());
            long budget = hint.maxStalenessNanos() < 0
                    ? outer.maxStalenessNanos()
                    : outer.maxStalenessNanos() < 0
                            ? hint.maxStalenessNanos()
                            : Math.min(hint.maxStalenessNanos(), outer.maxStalenessNanos());
            hint = new RouteHint(hint.scope(), token, hint.critical() || outer.critical(), budget);
        }
        scope.set(hint);
        try {
            return work.run();
        } finally {
            if (outer == null) {
                scope.remove();
            } else {
                scope.set(outer);
            }
        }
    }

    /**
     * Returns a token for everything committed on the primary so far (one query on the primary).
     * Call it after the write commits.
     *
     * @throws SQLException if the primary cannot be asked
     */
    public ConsistencyToken consistencyToken() throws SQLException {
        try (Connection c = primary.getConnection()) {
            return ConsistencyToken.parse(probe.encode(probe.primaryPosition(c)));
        }
    }

    /** The token's position, or -1 (no token) if it cannot be decoded; never throws. */
    private long positionOrAbsent(ConsistencyToken token) {
        try {
            long position = probe.decode(token.value());
            if (position >= 0) {
                return position;
            }
        } catch (IllegalArgumentException e) {
            log.debug("router '{}': ignoring an undecodable consistency token: {}", name, e.getMessage());
        }
        tokensInvalid.increment();
        return -1;
    }

    // ---- introspection -------------------------------------------------------------------

    /** The replicas in the order given, with their last probe and load. */
    public List<ReplicaInfo> replicas() {
        return List.copyOf(nodes);
    }

    /**
     * Returns whether the named replica currently serves reads.
     *
     * @throws IllegalArgumentException if there is no replica by that name
     */
    public boolean isServing(String replicaName) {
        ReplicaNode node = byName.get(java.util.Objects.requireNonNull(replicaName, "replicaName"));
        if (node == null) {
            throw new IllegalArgumentException(
                    "router '" + name + "' has no replica '" + replicaName + "' (replicas: " + byName.keySet() + ")");
        }
        return serving.contains(node);
    }

    /**
     * Runs one probe round now and applies it (tests and operations): the primary and every replica
     * are asked in parallel, each bounded by {@code probeTimeout}, so this returns within about that
     * long whatever the servers do.
     */
    public void probeNow() {
        synchronized (probeLock) {
            prober.round();
        }
    }

    private void probeQuietly() {
        try {
            probeNow();
        } catch (RuntimeException e) {
            log.warn("router '{}': lag probe failed unexpectedly; next round as scheduled", name, e);
        }
    }

    /** Applies a probe round's findings: ejections, admissions, the primary's state. */
    private final class ProbeListener implements Prober.Listener {
        @Override
        public void primary(@Nullable Exception cause) {
            Exception was = primaryDown;
            if (cause == null) {
                if (was != null) {
                    primaryDown = null;
                    log.info("router '{}': primary answers probes again", name);
                }
            } else if (was == null) {
                primaryDownSince = System.currentTimeMillis();
                primaryDown = cause;
                log.warn(
                        "router '{}': primary does not answer probes; writes fail fast, replicas keep serving"
                                + " (lag measured against its last known position): {}",
                        name,
                        cause.toString());
            } else {
                primaryDown = cause;
            }
        }

        @Override
        @SuppressWarnings("ReferenceEquality") // onProbe reports its state changes as identity sentinels
        public void measured(ReplicaNode node, Measurement m) {
            Object change = node.onProbe(m, maxLagBytes, maxLagNanos, readmitProbes);
            if (change == Ejection.LAG) {
                ejected(node, Ejection.LAG, null);
            } else if (change == ReplicaNode.READMITTED) {
                registry.counter("headroom.db.replica.readmissions", "router", name, "replica", node.name())
                        .increment();
                log.info("router '{}': replica {} caught up, serving again", name, node);
            } else if (change == ReplicaNode.ADMITTED) {
                log.info("router '{}': replica {} serving", name, node);
            }
        }

        @Override
        public void failed(ReplicaNode node, Ejection why, Exception cause) {
            eject(node, why, cause);
        }

        @Override
        public void roundDone() {
            primaryKnown.accumulateAndGet(prober.history().latest(), Math::max);
            recomputeServing();
        }
    }

    /**
     * Ejects a replica unless it is out already; reports the change. An unreachable replica's idle
     * pooled connections are evicted too (when the router built its pool, or was given a HikariCP
     * one): they are most likely dead, and a read handed one would fail instead of moving on.
     */
    private void eject(ReplicaNode node, Ejection why, Exception cause) {
        if (node.eject(why)) {
            ejected(node, why, cause);
            if (why == Ejection.UNREACHABLE && node.dataSource() instanceof HikariDataSource pool) {
                var mx = pool.getHikariPoolMXBean();
                if (mx != null) {
                    mx.softEvictConnections();
                }
            }
        }
    }

    /** A read could not use the replica: out at once, and the serving list without it. */
    private void ejectFromReadPath(ReplicaNode node, SQLException cause) {
        eject(node, Ejection.UNREACHABLE, cause);
        recomputeServing();
    }

    private void ejected(ReplicaNode node, Ejection why, @Nullable Exception cause) {
        registry.counter("headroom.db.replica.ejections", "router", name, "replica", node.name(), "reason", why.tag)
                .increment();
        if (cause == null) {
            log.warn("router '{}': replica {} ejected ({})", name, node, why.tag);
        } else {
            log.warn("router '{}': replica {} ejected ({}): {}", name, node.name(), why.tag, cause.toString());
        }
    }

    private synchronized void recomputeServing() {
        List<ReplicaNode> now = new ArrayList<>();
        for (ReplicaNode n : nodes) {
            if (n.serving()) {
                now.add(n);
            }
        }
        int keep = 0;
        if (now.size() < minServing) {
            List<ReplicaNode> lagging = new ArrayList<>();
            for (ReplicaNode n : nodes) {
                if (n.ejection() == Ejection.LAG) {
                    lagging.add(n);
                }
            }
            lagging.sort(Comparator.comparingLong(ReplicaNode::lagBytes));
            for (int i = 0; i < lagging.size() && now.size() < minServing; i++, keep++) {
                now.add(lagging.get(i));
            }
            if (keep > 0 && kept.get() != keep) {
                log.warn(
                        "router '{}': only {} replicas within bounds; keeping {} lagging ones serving (minServingReplicas {})",
                        name,
                        now.size() - keep,
                        keep,
                        minServing);
            }
        }
        kept.set(keep);
        serving = List.copyOf(now);
    }

    // ---- routing ---------------------------------------------------------------------------

    private Connection open(LazyConnection c) throws SQLException {
        // The scope, criticality and the connection's own settings, in the order the class doc gives.
        RouteHint hint = c.hint();
        return c.wantsReplica()
                ? onReplica(c, hint.tokenPosition(), hint.maxStalenessNanos())
                : onPrimary(primaryRouted);
    }

    private Connection onPrimary(Counter reason) throws SQLException {
        Exception down = primaryDown;
        if (down != null) {
            throw new SQLTransientConnectionException(
                    "router '" + name + "': the primary has not answered probes since "
                            + java.time.Instant.ofEpochMilli(primaryDownSince) + " (" + down
                            + "); failing at once rather than waiting on its pool; the next probe round"
                            + " that reaches it lets connections through again",
                    "08001",
                    down);
        }
        Connection c = primary.getConnection();
        reason.increment();
        return c;
    }

    private Connection onReplica(LazyConnection logical, long requested, long budget) throws SQLException {
        long token = requested >= 0 ? clampToPrimary(requested, tokenWaitNanos()) : -1;
        boolean replicaFailed = false;
        SQLException saturated = null;
        List<ReplicaNode> busy = List.of(); // saturated in this call: not asked again
        for (int attempt = 0; attempt <= nodes.size(); attempt++) {
            List<ReplicaNode> candidates = without(budget < 0 ? serving : withinBudget(budget), busy);
            if (candidates.isEmpty()) {
                if (budget >= 0 && !replicaFailed && saturated == null) {
                    if (failWhenNoReplica) {
                        throw new NoReplicaAvailableException("router '" + name + "': no replica within the read's"
                                + " staleness budget of " + java.time.Duration.ofNanos(budget) + ": " + nodes);
                    }
                    return onPrimary(fallbackStaleness);
                }
                break;
            }
            ReplicaNode node;
            TokenResult result = null;
            if (token < 0) {
                node = choose(candidates);
            } else {
                List<ReplicaNode> replayed = replayed(candidates, token);
                if (!replayed.isEmpty()) {
                    node = choose(replayed);
                    result = TokenResult.CACHED;
                } else {
                    node = mostAdvanced(candidates);
                    result = awaitReplay(node, token);
                    if (result == TokenResult.FALLBACK || result == TokenResult.OVERFLOW) {
                        Objects.requireNonNull(tokenReads.get(result)).increment();
                        return onPrimary(primaryRouted);
                    }
                }
            }
            Connection c;
            try {
                c = node.dataSource().getConnection();
            } catch (SQLException e) {
                if (isSaturation(e)) {
                    registry.counter("headroom.db.replica.saturated", "router", name, "replica", node.name())
                            .increment();
                    saturated = e;
                    busy = with(busy, node);
                    continue;
                }
                ejectFromReadPath(node, e);
                replicaFailed = true;
                continue;
            }
            if (result != null) {
                Objects.requireNonNull(tokenReads.get(result)).increment(); // one counter per result
            }
            logical.boundTo(node);
            node.routed.increment();
            return c;
        }
        if (saturated != null) {
            throw new SQLTransientConnectionException(
                    "router '" + name + "': the pool of every serving replica it tried is saturated (" + busy
                            + "); the read fails rather than moving to the primary, which would saturate next",
                    saturated.getSQLState(),
                    saturated);
        }
        if (failWhenNoReplica) {
            throw new NoReplicaAvailableException("router '" + name + "': no replica is serving " + nodes);
        }
        return onPrimary(replicaFailed ? fallbackReplicaFailed : fallbackNoReplica);
    }

    /**
     * A pool that timed out handing out a connection while it could reach its server: HikariCP's
     * {@link SQLTransientConnectionException} without a cause (with a cause, the pool could not
     * connect). Saturation is back-pressure, not a dead replica: it never ejects.
     */
    private static boolean isSaturation(SQLException e) {
        return e instanceof SQLTransientConnectionException && e.getCause() == null;
    }

    private List<ReplicaNode> withinBudget(long budget) {
        long now = ticker.read();
        List<ReplicaNode> within = new ArrayList<>(nodes.size());
        for (ReplicaNode n : nodes) {
            if (n.within(budget, now)) {
                within.add(n);
            }
        }
        return within;
    }

    private static List<ReplicaNode> without(List<ReplicaNode> all, List<ReplicaNode> excluded) {
        if (excluded.isEmpty()) {
            return all;
        }
        List<ReplicaNode> rest = new ArrayList<>(all);
        rest.removeAll(excluded);
        return rest;
    }

    private static List<ReplicaNode> with(List<ReplicaNode> list, ReplicaNode node) {
        List<ReplicaNode> more = new ArrayList<>(list);
        more.add(node);
        return more;
    }

    private static ReplicaNode mostAdvanced(List<ReplicaNode> candidates) {
        ReplicaNode best = candidates.get(0);
        for (ReplicaNode n : candidates) {
            if (n.replayPosition() > best.replayPosition()) {
                best = n;
            }
        }
        return best;
    }

    /**
     * A token above every primary position this router has seen is either new (written since the
     * last probe) or not a real position (forged, another cluster's). The primary is asked, on a
     * connection of its own under the probe timeout, by a query that starts after this read arrived
     * (concurrent reads share it), and a token still above its answer is lowered to it ({@code
     * headroom.db.token.clamped}): a read cannot need more than everything the primary has. At most
     * one such query runs per 20 ms ({@code headroom.db.token.checks}); between two, a token more
     * than {@code maxLagBytes} ahead of the last answer is lowered to it, a nearer one kept. A read
     * that cannot get an answer within its wait, or finds the primary down, keeps its token (it waits
     * for a replica to replay it, holding no connection, or goes to the primary). So a flood of
     * forged tokens costs the primary a bounded query rate, never a query per read.
     */
    private long clampToPrimary(long token, long waitNanos) {
        if (token <= primaryKnown.get() || primaryDown != null) {
            return token;
        }
        long arrived = System.nanoTime();
        long fresh;
        try {
            if (!primaryRefresh.tryLock(Math.max(0, waitNanos), TimeUnit.NANOSECONDS)) {
                return token;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return token;
        }
        try {
            if (primaryRefreshed >= 0 && primaryRefreshStartedAt - arrived > 0) {
                fresh = primaryRefreshed; // a query that began after this read arrived
            } else if (primaryRefreshed >= 0 && arrived - primaryRefreshStartedAt < TOKEN_REFRESH_NANOS) {
                // One was asked very recently: no query per read. A legitimate token is at most the
                // WAL of those few milliseconds ahead of that answer; one more than maxLagBytes ahead
                // is not a real position.
                if (token - primaryRefreshed <= maxLagBytes) {
                    return token;
                }
                fresh = primaryRefreshed;
            } else {
                primaryRefreshStartedAt = System.nanoTime();
                tokenChecks.increment();
                try {
                    fresh = tokenProbe.use(probe::primaryPosition);
                } catch (SQLException | RuntimeException e) {
                    return token;
                }
                primaryRefreshed = fresh;
            }
        } finally {
            primaryRefresh.unlock();
        }
        primaryKnown.accumulateAndGet(fresh, Math::max);
        if (token <= fresh || fresh < 0) {
            return token;
        }
        tokensClamped.increment();
        return fresh;
    }

    /** The candidates known to have replayed {@code token}; the same list when all have. */
    private static List<ReplicaNode> replayed(List<ReplicaNode> candidates, long token) {
        int n = candidates.size();
        int satisfied = 0;
        for (int i = 0; i < n; i++) {
            if (candidates.get(i).replayPosition() >= token) {
                satisfied++;
            }
        }
        if (satisfied == n || satisfied == 0) {
            return satisfied == n ? candidates : List.of();
        }
        List<ReplicaNode> some = new ArrayList<>(satisfied);
        for (int i = 0; i < n; i++) {
            if (candidates.get(i).replayPosition() >= token) {
                some.add(candidates.get(i));
            }
        }
        return some;
    }

    private ReplicaNode choose(List<ReplicaNode> candidates) {
        if (candidates.size() == 1) {
            return candidates.get(0);
        }
        ReplicaInfo chosen = selector.select(candidates);
        if (!(chosen instanceof ReplicaNode node) || !candidates.contains(node)) {
            throw new IllegalStateException("ReplicaSelector " + selector + " returned " + chosen
                    + ", which is not one of the replicas it was given");
        }
        return node;
    }

    /**
     * Waits, holding no connection, until {@code node} has replayed {@code token}: up to {@code
     * maxTokenWait}, or the request's deadline if sooner; at most {@code maxTokenWaiters} reads wait
     * at once.
     */
    /** How long a token read may wait: {@code maxTokenWait}, or what is left of the request's deadline. */
    private long tokenWaitNanos() {
        long wait = maxTokenWaitNanos;
        Optional<dev.headroom.core.Deadline> deadline = RequestContext.current().deadline();
        if (deadline.isPresent()) {
            wait = Math.min(wait, deadline.get().remainingNanos());
        }
        return wait;
    }

    private TokenResult awaitReplay(ReplicaNode node, long token) {
        long wait = tokenWaitNanos();
        if (wait <= 0) {
            return TokenResult.FALLBACK;
        }
        if (tokenWaiters.incrementAndGet() > maxTokenWaiters) {
            tokenWaiters.decrementAndGet();
            return TokenResult.OVERFLOW;
        }
        try {
            ReplayWaits waits = Objects.requireNonNull(replayWaits.get(node));
            return waits.await(token, System.nanoTime() + wait) ? TokenResult.WAITED : TokenResult.FALLBACK;
        } finally {
            tokenWaiters.decrementAndGet();
        }
    }

    private static void close(Connection c, @Nullable SQLException primaryError) {
        try {
            c.close();
        } catch (SQLException e) {
            if (primaryError != null) {
                primaryError.addSuppressed(e);
            }
        }
    }

    // ---- set-up and metrics ----------------------------------------------------------------

    private DataSource dataSource(
            String server, Object source, boolean replica, @Nullable Consumer<HikariConfig> poolConfig) {
        if (source instanceof DataSource ds) {
            return ds;
        }
        HikariConfig cfg = new HikariConfig();
        cfg.setJdbcUrl((String) source);
        cfg.setPoolName("headroom-" + name + "-" + server);
        cfg.setInitializationFailTimeout(-1); // start even if the server is down
        if (replica) {
            cfg.setConnectionTimeout(1000);
            // Read-only sessions: a replica promoted between two probes still refuses writes. With
            // pgjdbc's readOnlyMode=always the session itself is read-only, autocommit included (set
            // once per physical connection, no cost per read).
            cfg.setReadOnly(true);
            if (((String) source).startsWith("jdbc:postgresql:")) {
                cfg.addDataSourceProperty("readOnlyMode", "always");
            }
        }
        if (poolConfig != null) {
            poolConfig.accept(cfg);
        }
        HikariDataSource pool = new HikariDataSource(cfg);
        owned.add(pool);
        return pool;
    }

    private Counter connections(String target, String server) {
        return Counter.builder("headroom.db.connections")
                .description("physical connections taken through the router, by where they went")
                .tags("router", name, "target", target, "server", server)
                .register(registry);
    }

    private Counter fallbacks(String reason) {
        return Counter.builder("headroom.db.fallbacks")
                .description("replica reads served by the primary")
                .tags("router", name, "reason", reason)
                .register(registry);
    }

    private void replicaGauges(ReplicaNode node) {
        Gauge.builder("headroom.db.replica.lag.bytes", node, ReplicaNode::lagBytes)
                .description("WAL bytes not yet replayed, at the last probe")
                .tags("router", name, "replica", node.name())
                .baseUnit("bytes")
                .register(registry);
        TimeGauge.builder("headroom.db.replica.lag", node, TimeUnit.NANOSECONDS, ReplicaNode::lagNanos)
                .description("replay lag in time, at the last probe")
                .tags("router", name, "replica", node.name())
                .register(registry);
        Gauge.builder("headroom.db.replica.serving", this, r -> r.serving.contains(node) ? 1 : 0)
                .description("1 while the replica serves reads")
                .tags("router", name, "replica", node.name())
                .register(registry);
    }

    /** Stops probing and closes the pools this router built; DataSources given to it stay open. */
    @Override
    public void close() {
        scheduler.shutdownNow();
        prober.close();
        replayWaits.values().forEach(ReplayWaits::close);
        tokenProbe.close();
        replayPollers.shutdownNow();
        for (HikariDataSource pool : owned) {
            pool.close();
        }
    }

    @Override
    public String toString() {
        return "RoutingDataSource[" + name + ", replicas " + nodes + "]";
    }
}
