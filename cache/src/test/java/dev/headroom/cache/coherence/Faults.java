package dev.headroom.cache.coherence;

import dev.headroom.testing.TcpProxy;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The checker's Redis faults, as the seed decides: restarts, {@code CLIENT KILL TYPE pubsub}, {@code
 * DEBUG SLEEP}, memory pressure, and cuts of one instance's store connection (its {@link TcpProxy}).
 * Each fault is recorded in the history and counted. {@link #inject} and {@link #pressure} are thread
 * bodies, one thread each; they end when {@code stopping} says so.
 */
final class Faults {

    private final Settings settings;
    private final History history;
    private final Tally tally;
    private final OwnedRedis redis;
    private final List<TcpProxy> storeProxies;
    private final BooleanSupplier stopping;

    /** @param storeProxies one per instance, in front of its store's connection; thread-safe if it grows */
    Faults(
            Settings settings,
            History history,
            Tally tally,
            OwnedRedis redis,
            List<TcpProxy> storeProxies,
            BooleanSupplier stopping) {
        this.settings = settings;
        this.history = history;
        this.tally = tally;
        this.redis = redis;
        this.storeProxies = storeProxies;
        this.stopping = stopping;
    }

    /** Every 200 ms, maybe one fault, as the seed decides. */
    void inject(Random random) {
        try {
            TimeUnit.MILLISECONDS.sleep(500); // let the instances warm up first
            while (!stopping.getAsBoolean()) {
                TimeUnit.MILLISECONDS.sleep(200); // the fault clock's tick
                int roll = random.nextInt(1000);
                long start = history.now();
                try {
                    if (roll < 15 && settings.fault("restart")) {
                        int down = 100 + random.nextInt(700);
                        addEvictions();
                        redis.restart(Duration.ofMillis(down));
                        history.add(new History.Fault("restart", start, history.now()));
                        tally.count("fault.restart");
                    } else if (roll < 75 && settings.fault("pubsub")) {
                        long killed = redis.run(c -> c.clientKill(KillArgs.Builder.typePubsub()));
                        history.add(new History.Fault("pubsub-kill", start, history.now()));
                        tally.count("fault.pubsubKill");
                        tally.add("fault.pubsubConnectionsKilled", killed);
                    } else if (roll >= 140 && roll < 170 && settings.fault("partition")) {
                        int victim = random.nextInt(storeProxies.size());
                        int cutFor = 200 + random.nextInt(1000);
                        storeProxies.get(victim).cut();
                        TimeUnit.MILLISECONDS.sleep(cutFor); // a fault: the partition lasts this long
                        storeProxies.get(victim).restore();
                        history.add(new History.Fault("partition-i" + victim, start, history.now()));
                        tally.count("fault.storePartition");
                    } else if (roll < 140 && settings.fault("slow")) {
                        redis.run(c -> c.dispatch(
                                CommandType.DEBUG,
                                new StatusOutput<>(StringCodec.UTF8),
                                new CommandArgs<>(StringCodec.UTF8).add("SLEEP").add("0.3")));
                        history.add(new History.Fault("slow", start, history.now()));
                        tally.count("fault.slow");
                    }
                } catch (RuntimeException e) {
                    tally.count("fault.failedToInject");
                    tally.note("fault not injected: " + e);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Redis's eviction count is lost with a restart: added up before each one and at the end. */
    void addEvictions() {
        long evicted = evictedKeys(redis);
        if (evicted > 0) {
            tally.add("redis.evictedKeys", evicted);
        }
    }

    /**
     * Filler writes past the caches (8 KiB values, no TTL), in bursts the seed decides, so that the
     * small {@code maxmemory} makes {@code allkeys-lru} evict cache values and version tombstones.
     */
    void pressure(Random random) {
        RedisClient client = RedisClient.create("redis://127.0.0.1:" + redis.port());
        client.setOptions(ClientOptions.builder().autoReconnect(true).build());
        String payload = "x".repeat(8192);
        StatefulRedisConnection<String, String> connection = null;
        long n = 0;
        try {
            while (!stopping.getAsBoolean()) {
                int burst = random.nextInt(4) == 0 ? 40 + random.nextInt(80) : 0;
                for (int i = 0; i < burst && !stopping.getAsBoolean(); i++) {
                    try {
                        if (connection == null) {
                            connection = client.connect();
                            connection.setTimeout(Duration.ofSeconds(1));
                        }
                        connection.sync().set("filler:" + (n++), payload);
                        tally.count("pressure.fillerWrites");
                    } catch (RuntimeException e) {
                        tally.count("pressure.fillerWritesFailed");
                    }
                }
                TimeUnit.MILLISECONDS.sleep(100); // paces the bursts
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (connection != null) {
                connection.close();
            }
            client.shutdown(0, 1, TimeUnit.SECONDS);
        }
    }

    /** Redis's {@code evicted_keys} since its last start, or -1 if it does not answer. */
    static long evictedKeys(OwnedRedis redis) {
        try {
            String stats = redis.run(c -> c.info("stats"));
            for (String line : stats.split("\r?\n")) {
                if (line.startsWith("evicted_keys:")) {
                    return Long.parseLong(
                            line.substring("evicted_keys:".length()).trim());
                }
            }
        } catch (RuntimeException e) {
            // reported as unknown
        }
        return -1;
    }
}
