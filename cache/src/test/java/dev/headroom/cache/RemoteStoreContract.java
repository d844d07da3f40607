package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.awaitility.core.ThrowingRunnable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The promises of {@link RemoteStore} (and of {@link RemoteValue}'s version and generation), held
 * against every implementation: a subclass supplies the store, a second store object on the same
 * data, a store beside it, a way to lose a record, and a way to let a TTL pass.
 *
 * <p>Only what the Javadoc promises is asserted; nothing here bounds how fast a store answers.
 */
abstract class RemoteStoreContract {

    /** Never reached in a test, however slow the machine: values written with it stay. */
    static final Duration LONG_TTL = Duration.ofMinutes(10);

    /** How long one call may take before the test gives up on it: generous for a busy machine. */
    static final Duration CALL = Duration.ofSeconds(30);

    /** Threads in the concurrency tests, and how many rounds each runs. */
    private static final int THREADS = 16;

    private static final int ROUNDS = 20;

    private final ExecutorService threads = Executors.newFixedThreadPool(THREADS);

    /**
     * The store under test, on data of this test's own; the same object for every call within a
     * test.
     */
    abstract RemoteStore store();

    /**
     * A new store object on the same data as {@link #store()}: what another instance of the
     * application holds.
     */
    abstract RemoteStore secondInstance();

    /**
     * A store on the same backend whose keys are not {@link #store()}'s (Redis: a prefix that starts
     * the same way, {@code user} beside {@code users:}).
     */
    abstract RemoteStore neighbour();

    /** Drops the record of {@code key} out from under the store (eviction, a flush, a restart). */
    abstract void loseRecord(String key) throws Exception;

    /** A TTL short enough to let pass within a test. */
    abstract Duration shortTtl();

    /**
     * Lets {@code ttl} pass (a fake clock moves past it; a real store is waited for) and then
     * requires {@code check} to pass: a real store is polled until it does.
     */
    abstract void afterTtl(Duration ttl, ThrowingRunnable check) throws Exception;

    @AfterEach
    void stopThreads() {
        threads.shutdownNow();
    }

    /**
     * Returns {@code store} once it answers. A store built from a URI waits only 2 s for its first
     * connection and then starts without one, failing every call at once until it connects in the
     * background (as its builder documents); on a loaded machine connecting can take longer, and a
     * test that used the store at once would fail on that instead of on what it checks.
     */
    static <S extends RemoteStore> S answering(S store) {
        await().atMost(CALL).ignoreExceptions().until(() -> done(store.get("connected?")) != null);
        return store;
    }

    static <T> T done(CompletionStage<T> stage) throws Exception {
        return stage.toCompletableFuture().get(CALL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whether a {@code putIfVersion} wrote: it answers the written version, or 0. */
    static boolean wrote(CompletionStage<Long> putIfVersion) throws Exception {
        return done(putIfVersion) > 0;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String text(RemoteValue read) {
        assertThat(read.value()).as("value of %s", read).isNotNull();
        return new String(read.value(), StandardCharsets.UTF_8);
    }

    private RemoteValue get(String key) throws Exception {
        return done(store().get(key));
    }

    private long put(String key, String value) throws Exception {
        return done(store().put(key, bytes(value), LONG_TTL));
    }

    // --- reads and writes ---

    @Test
    void anUnknownKeyIsAbsentAtVersionZero() throws Exception {
        RemoteValue read = get("never-written");
        assertThat(read.value()).isNull();
        assertThat(read.version()).isZero();
    }

    @Test
    void putWritesTheValueAndReturnsTheKeysNewVersion() throws Exception {
        long first = put("k", "v1");
        assertThat(first).isPositive();
        RemoteValue read = get("k");
        assertThat(text(read)).isEqualTo("v1");
        assertThat(read.version()).isEqualTo(first);

        long second = put("k", "v2");
        assertThat(second).isGreaterThan(first);
        assertThat(text(get("k"))).isEqualTo("v2");
        assertThat(get("k").version()).isEqualTo(second);
    }

    @Test
    void invalidateDropsTheValueAndBumpsTheVersion() throws Exception {
        long written = put("k", "v1");
        long invalidated = done(store().invalidate("k"));
        assertThat(invalidated).isGreaterThan(written);
        RemoteValue read = get("k");
        assertThat(read.value()).isNull();
        assertThat(read.version()).isEqualTo(invalidated);

        assertThat(done(store().invalidate("never-written"))).isPositive();
        assertThat(get("never-written").value()).isNull();
    }

    @Test
    void putIfVersionWritesOnTheVersionItReadAndMovesTheVersionOn() throws Exception {
        RemoteValue absent = get("k");
        assertThat(wrote(store().putIfVersion("k", bytes("loaded"), absent, LONG_TTL)))
                .isTrue();
        RemoteValue read = get("k");
        assertThat(text(read)).isEqualTo("loaded");
        assertThat(read.version()).isGreaterThan(absent.version());

        assertThat(wrote(store().putIfVersion("k", bytes("reloaded"), read, LONG_TTL)))
                .isTrue();
        assertThat(text(get("k"))).isEqualTo("reloaded");
        assertThat(get("k").version()).isGreaterThan(read.version());
    }

    @Test
    void aSecondWriteBackFencedOnTheSameReadIsRefused() throws Exception {
        put("k", "v1");
        RemoteValue read = get("k");
        assertThat(wrote(store().putIfVersion("k", bytes("first load"), read, LONG_TTL)))
                .isTrue();
        assertThat(wrote(store().putIfVersion("k", bytes("abandoned load"), read, LONG_TTL)))
                .isFalse();
        assertThat(text(get("k"))).isEqualTo("first load");
    }

    @Test
    void aLoadThatReadBeforeAPutOrInvalidationCannotWrite() throws Exception {
        RemoteValue beforePut = get("k");
        put("k", "put");
        assertThat(wrote(store().putIfVersion("k", bytes("stale"), beforePut, LONG_TTL)))
                .isFalse();
        assertThat(text(get("k"))).isEqualTo("put");

        RemoteValue beforeInvalidation = get("k");
        done(store().invalidate("k"));
        assertThat(wrote(store().putIfVersion("k", bytes("stale"), beforeInvalidation, LONG_TTL)))
                .isFalse();
        assertThat(get("k").value()).isNull();

        RemoteValue afterInvalidation = get("k");
        assertThat(wrote(store().putIfVersion("k", bytes("fresh"), afterInvalidation, LONG_TTL)))
                .isTrue();
        assertThat(text(get("k"))).isEqualTo("fresh");
    }

    @Test
    void aSecondInstanceSeesWritesAndIsFencedByThem() throws Exception {
        RemoteStore second = secondInstance();
        RemoteValue readBySecond = done(second.get("k"));
        long written = put("k", "v1");
        RemoteValue read = done(second.get("k"));
        assertThat(text(read)).isEqualTo("v1");
        assertThat(read.version()).isEqualTo(written);
        assertThat(wrote(second.putIfVersion("k", bytes("stale"), readBySecond, LONG_TTL)))
                .isFalse();
        assertThat(done(second.invalidate("k"))).isGreaterThan(written);
        assertThat(get("k").value()).isNull();
    }

    @Test
    void anyBytesUnderAnyKeyComeBackAsWritten() throws Exception {
        byte[] everyByte = new byte[256];
        for (int b = 0; b < 256; b++) {
            everyByte[b] = (byte) b;
        }
        // keys and values that look like the Redis layout's own separators, hash tags and keys
        Map<String, byte[]> written = new LinkedHashMap<>();
        written.put("a", new byte[0]);
        written.put("a:lease", bytes("12:3@45|v6"));
        written.put("{a}", bytes("|-"));
        written.put("generation", bytes("7"));
        written.put("with space", everyByte);
        written.put("ключ", bytes("значение"));
        written.put("}{", bytes("@"));
        written.put("~}{", bytes("~")); // not the same key as "}{", which Redis stores as "~}{"
        written.put("}", bytes("}"));
        for (Map.Entry<String, byte[]> e : written.entrySet()) {
            done(store().put(e.getKey(), e.getValue(), LONG_TTL));
        }
        assertThat(done(store().tryLease("b", "token", LONG_TTL))).isTrue();
        assertThat(done(store().tryLease("}lease", "token", LONG_TTL)))
                .as("a lease on a key starting with '}' (in Redis Cluster: in its key's slot)")
                .isTrue();
        for (Map.Entry<String, byte[]> e : written.entrySet()) {
            assertThat(get(e.getKey()).value()).as(e.getKey()).isEqualTo(e.getValue());
        }
        assertThat(get("b").value()).as("a lease is not a value").isNull();
        assertThat(get("b:lease").value()).isNull();
    }

    // --- TTL and the loss of records ---

    @Test
    void aValueExpiresAfterItsTtl() throws Exception {
        done(store().put("put", bytes("v"), shortTtl()));
        assertThat(wrote(store().putIfVersion("loaded", bytes("v"), get("loaded"), shortTtl())))
                .isTrue();
        afterTtl(shortTtl(), () -> {
            assertThat(get("put").value()).isNull();
            assertThat(get("loaded").value()).isNull();
        });
    }

    @Test
    void versionsKeepGrowingAfterTheRecordExpires() throws Exception {
        long before = done(store().put("k", bytes("v1"), shortTtl()));
        afterTtl(shortTtl(), () -> assertThat(get("k").value()).isNull());
        long after = put("k", "v2");
        assertThat(after).isGreaterThan(before);
        assertThat(get("k").version()).isEqualTo(after);

        wrote(store().putIfVersion("k", bytes("v3"), get("k"), shortTtl()));
        long loaded = get("k").version();
        afterTtl(shortTtl(), () -> assertThat(get("k").value()).isNull());
        assertThat(done(store().invalidate("k"))).isGreaterThan(loaded);
    }

    @Test
    void versionsKeepGrowingAfterTheRecordIsLost() throws Exception {
        long put = put("k", "v1");
        loseRecord("k");
        assertThat(get("k").value()).isNull();
        long invalidated = done(store().invalidate("k"));
        assertThat(invalidated).isGreaterThan(put);

        loseRecord("k");
        long putAgain = put("k", "v2");
        assertThat(putAgain).isGreaterThan(invalidated);

        loseRecord("k");
        RemoteValue absent = get("k");
        assertThat(wrote(store().putIfVersion("k", bytes("loaded"), absent, LONG_TTL)))
                .isTrue();
        RemoteValue loaded = get("k");
        assertThat(text(loaded)).isEqualTo("loaded");
        assertThat(loaded.version()).isGreaterThan(putAgain);
    }

    // --- clear ---

    @Test
    void aClearHidesEveryEarlierValueFromThisStoreAtOnce() throws Exception {
        for (int i = 0; i < 10; i++) {
            put("put-" + i, "v");
            assertThat(wrote(store().putIfVersion("loaded-" + i, bytes("v"), get("loaded-" + i), LONG_TTL)))
                    .isTrue();
        }
        long versionBefore = get("put-0").version();
        done(store().clear());
        for (int i = 0; i < 10; i++) {
            assertThat(get("put-" + i).value()).as("put-%d", i).isNull();
            assertThat(get("loaded-" + i).value()).as("loaded-%d", i).isNull();
        }
        long afterClear = put("put-0", "new");
        assertThat(afterClear).isGreaterThan(versionBefore);
        assertThat(text(get("put-0"))).isEqualTo("new");
        assertThat(wrote(store().putIfVersion("loaded-0", bytes("new"), get("loaded-0"), LONG_TTL)))
                .isTrue();
        assertThat(text(get("loaded-0"))).isEqualTo("new");
    }

    @Test
    void aSecondInstanceLearnsOfAClearThroughRefreshClearsOnce() throws Exception {
        RemoteStore second = secondInstance();
        put("k", "before");
        assertThat(text(done(second.get("k")))).isEqualTo("before");
        assertThat(done(second.refreshClears())).as("no clear yet").isFalse();

        done(store().clear());
        assertThat(done(second.refreshClears()))
                .as("first refresh after the clear")
                .isTrue();
        assertThat(done(second.get("k")).value()).isNull();
        assertThat(done(second.refreshClears())).as("second refresh").isFalse();

        done(second.put("k", bytes("after"), LONG_TTL));
        assertThat(text(get("k"))).isEqualTo("after");
        assertThat(text(done(second.get("k")))).isEqualTo("after");
    }

    @Test
    void aSecondInstanceThatReadsAValueWrittenAfterAClearReportsTheClearAndHidesOlderValues() throws Exception {
        RemoteStore second = secondInstance();
        put("old", "before");
        assertThat(text(done(second.get("old")))).isEqualTo("before");
        done(store().clear());
        put("new", "after");
        assertThat(text(done(second.get("new")))).isEqualTo("after");
        assertThat(done(second.refreshClears())).isTrue();
        assertThat(done(second.get("old")).value()).isNull();
        assertThat(done(second.refreshClears())).isFalse();
    }

    @Test
    void aStoreObjectMadeAfterAClearNeverReadsValuesFromBeforeIt() throws Exception {
        put("k", "before");
        done(store().clear());
        RemoteStore later = secondInstance();
        assertThat(done(later.get("k")).value()).isNull();
    }

    @Test
    void aLoadThatReadBeforeAClearCannotWriteAValueReadableAfterIt() throws Exception {
        put("present", "before");
        RemoteValue readPresent = get("present");
        RemoteValue readAbsent = get("absent");
        RemoteStore second = secondInstance();
        RemoteValue readBySecond = done(second.get("by-second"));

        done(store().clear());
        // Whether the store refuses these writes or keeps them unreadable is its choice.
        wrote(store().putIfVersion("present", bytes("stale"), readPresent, LONG_TTL));
        wrote(store().putIfVersion("absent", bytes("stale"), readAbsent, LONG_TTL));
        wrote(second.putIfVersion("by-second", bytes("stale"), readBySecond, LONG_TTL));

        RemoteStore third = secondInstance();
        done(second.refreshClears());
        for (String key : List.of("present", "absent", "by-second")) {
            assertThat(get(key).value()).as("%s on the store that cleared", key).isNull();
            assertThat(done(second.get(key)).value())
                    .as("%s on a second instance after refreshClears", key)
                    .isNull();
            assertThat(done(third.get(key)).value())
                    .as("%s on a store object made after the clear", key)
                    .isNull();
        }

        // a load that reads after the clear does write
        for (String key : List.of("present", "absent", "by-second")) {
            assertThat(wrote(store().putIfVersion(key, bytes("fresh"), get(key), LONG_TTL)))
                    .as(key)
                    .isTrue();
            assertThat(text(get(key))).as(key).isEqualTo("fresh");
            assertThat(text(done(second.get(key)))).as(key).isEqualTo("fresh");
        }
    }

    @Test
    void aClearTouchesOnlyThisStoresValues() throws Exception {
        RemoteStore neighbour = neighbour();
        done(neighbour.put("k", bytes("neighbour's"), LONG_TTL));
        put("k", "mine");

        done(store().clear());
        assertThat(get("k").value()).isNull();
        assertThat(done(neighbour.refreshClears())).isFalse();
        assertThat(text(done(neighbour.get("k")))).isEqualTo("neighbour's");

        put("k", "mine again");
        done(neighbour.clear());
        assertThat(done(store().refreshClears())).isFalse();
        assertThat(text(get("k"))).isEqualTo("mine again");
    }

    // --- leases ---

    @Test
    void aLeaseIsGrantedOnceAndRefusedToAnyOtherToken() throws Exception {
        RemoteStore second = secondInstance();
        assertThat(done(store().tryLease("k", "a", LONG_TTL))).isTrue();
        assertThat(done(store().tryLease("k", "b", LONG_TTL))).isFalse();
        assertThat(done(second.tryLease("k", "c", LONG_TTL))).isFalse();
        assertThat(done(store().tryLease("other", "b", LONG_TTL)))
                .as("another key")
                .isTrue();
    }

    @Test
    void aLeaseIsRefusedWhileTheKeyHasAValue() throws Exception {
        put("put", "v");
        assertThat(done(store().tryLease("put", "a", LONG_TTL))).isFalse();

        assertThat(wrote(store().putIfVersion("loaded", bytes("v"), get("loaded"), LONG_TTL)))
                .isTrue();
        assertThat(done(secondInstance().tryLease("loaded", "a", LONG_TTL))).isFalse();

        done(store().invalidate("put"));
        assertThat(done(store().tryLease("put", "a", LONG_TTL)))
                .as("an invalidated key has no value")
                .isTrue();
    }

    @Test
    void onlyTheHolderReleasesALease() throws Exception {
        assertThat(done(store().tryLease("k", "a", LONG_TTL))).isTrue();
        done(store().releaseLease("k", "b"));
        assertThat(done(store().tryLease("k", "c", LONG_TTL))).isFalse();
        done(secondInstance().releaseLease("k", "a"));
        assertThat(done(store().tryLease("k", "c", LONG_TTL))).isTrue();
    }

    @Test
    void aLeaseIsRefusedOnceItsHolderWroteTheValueAndLeft() throws Exception {
        RemoteValue read = get("k");
        assertThat(done(store().tryLease("k", "holder", LONG_TTL))).isTrue();
        assertThat(wrote(store().putIfVersion("k", bytes("loaded"), read, LONG_TTL)))
                .isTrue();
        done(store().releaseLease("k", "holder"));
        assertThat(done(secondInstance().tryLease("k", "late", LONG_TTL))).isFalse();
    }

    @Test
    void aLeaseFencedOnAReadIsRefusedOnceItsHolderFoundTheKeyAbsentAndLeft() throws Exception {
        RemoteValue read = get("k");
        assertThat(done(store().tryLease("k", "holder", LONG_TTL, read))).isTrue();
        assertThat(done(store().putAbsentIfVersion("k", read, "holder", LONG_TTL)))
                .isPositive();
        done(store().releaseLease("k", "holder"));
        assertThat(done(secondInstance().tryLease("k", "late", LONG_TTL, read)))
                .as("read before the holder's record: the caller takes the absence, it does not load again")
                .isFalse();
        assertThat(done(secondInstance().tryLease("k", "later", LONG_TTL, get("k"))))
                .as("a miss that read the record may take the lease")
                .isTrue();
    }

    @Test
    void aLeaseFencedOnAReadIsStillRefusedWhileHeldOrWhileTheKeyHasAValue() throws Exception {
        RemoteValue read = get("k");
        assertThat(done(store().tryLease("k", "a", LONG_TTL, read))).isTrue();
        assertThat(done(secondInstance().tryLease("k", "b", LONG_TTL, read))).isFalse();
        put("v", "value");
        assertThat(done(store().tryLease("v", "a", LONG_TTL, get("v")))).isFalse();
    }

    @Test
    void aLeaseExpiresAfterItsTtl() throws Exception {
        assertThat(done(store().tryLease("k", "a", shortTtl()))).isTrue();
        done(store().releaseLease("k", "not-the-holder")); // and leaves the lease's TTL alone
        afterTtl(
                shortTtl(),
                () -> assertThat(done(store().tryLease("k", "b", LONG_TTL))).isTrue());
        assertThat(done(store().tryLease("k", "a", LONG_TTL))).isFalse();
    }

    @Test
    void aValueRetiredByAClearDoesNotBlockALease() throws Exception {
        put("k", "before");
        done(store().clear());
        assertThat(done(store().tryLease("k", "a", LONG_TTL))).isTrue();
    }

    // --- concurrency ---

    /** Runs {@code task} on {@link #THREADS} threads at once; returns their answers by thread index. */
    private <T> List<T> atOnce(IndexedTask<T> task) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        List<Future<T>> futures = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int index = t;
            futures.add(threads.submit(() -> {
                start.await();
                return task.run(index);
            }));
        }
        start.countDown();
        List<T> answers = new ArrayList<>();
        for (Future<T> f : futures) {
            answers.add(f.get(CALL.toMillis(), TimeUnit.MILLISECONDS));
        }
        return answers;
    }

    @FunctionalInterface
    private interface IndexedTask<T> {
        T run(int index) throws Exception;
    }

    @Test
    void putIfVersionAnswersTheVersionItWroteWhichAReadThenReturns() throws Exception {
        RemoteValue read = get("k");
        long written = done(store().putIfVersion("k", bytes("loaded"), read, LONG_TTL));
        assertThat(written).isGreaterThan(read.version());
        assertThat(get("k").version()).isEqualTo(written);
        assertThat(done(store().putIfVersion("k", bytes("again"), read, LONG_TTL)))
                .as("refused: 0")
                .isZero();
    }

    @Test
    void aRefreshLeaseIsGrantedOnlyAtTheVersionReadAndToOneHolder() throws Exception {
        put("k", "v1");
        RemoteValue read = get("k");
        assertThat(done(store().tryRefreshLease("k", "a", LONG_TTL, read))).isTrue();
        assertThat(done(secondInstance().tryRefreshLease("k", "b", LONG_TTL, read)))
                .as("held by a")
                .isFalse();
        done(store().releaseLease("k", "a"));
        put("k", "v2"); // written since the read
        assertThat(done(store().tryRefreshLease("k", "b", LONG_TTL, read)))
                .as("the key moved on since the read")
                .isFalse();
        assertThat(done(store().tryRefreshLease("k", "b", LONG_TTL, get("k")))).isTrue();
    }

    /**
     * The fence of a load that read the key absent must survive the loss of the record a write made
     * meanwhile (eviction under maxmemory, a flush): the key then reads absent again, at version 0,
     * as the load read it. Found by the separate-process checker under memory pressure.
     */
    @Test
    void aWriteBackUnderALeaseIsRefusedOnceAWriteEndedTheLeaseEvenIfTheWritesRecordIsLost() throws Exception {
        for (String write : List.of("invalidate", "put")) {
            String key = "k-" + write;
            RemoteValue read = get(key);
            assertThat(done(store().tryLease(key, "holder", LONG_TTL, read))).isTrue();
            if (write.equals("invalidate")) {
                done(secondInstance().invalidate(key));
            } else {
                done(secondInstance().put(key, bytes("newer"), LONG_TTL));
            }
            loseRecord(key);
            assertThat(get(key).version())
                    .as("the record is gone: the key reads as the load read it")
                    .isZero();
            assertThat(wrote(store().putIfVersion(key, bytes("older"), read, "holder", LONG_TTL)))
                    .as("written after a %s whose record was lost", write)
                    .isFalse();
            assertThat(done(store().putAbsentIfVersion(key, read, "holder", LONG_TTL)))
                    .as("found-absent record written after a %s whose record was lost", write)
                    .isZero();
            assertThat(get(key).value()).isNull();
        }
    }

    @Test
    void aWriteBackUnderALeaseOnAnAbsentKeyNeedsTheLeaseStillHeld() throws Exception {
        RemoteValue read = get("k");
        assertThat(done(store().tryLease("k", "holder", LONG_TTL, read))).isTrue();
        assertThat(wrote(store().putIfVersion("k", bytes("v"), read, "other", LONG_TTL)))
                .as("another token")
                .isFalse();
        assertThat(wrote(store().putIfVersion("k", bytes("v"), read, "holder", LONG_TTL)))
                .as("the holder's")
                .isTrue();
        assertThat(text(get("k"))).isEqualTo("v");
        // once the key has a record, the version is the fence and the lease is not needed
        RemoteValue present = get("k");
        done(store().releaseLease("k", "holder"));
        assertThat(wrote(store().putIfVersion("k", bytes("w"), present, "holder", LONG_TTL)))
                .isTrue();
    }

    @Test
    void aFoundAbsentRecordIsFencedReadAsFoundAbsentAndDoesNotBlockALease() throws Exception {
        RemoteValue read = get("k");
        assertThat(done(store().tryLease("k", "holder", LONG_TTL, read))).isTrue();
        long written = done(store().putAbsentIfVersion("k", read, "holder", LONG_TTL));
        assertThat(written).isGreaterThan(read.version());
        done(store().releaseLease("k", "holder"));
        RemoteValue again = get("k");
        assertThat(again.value()).isNull();
        assertThat(again.foundAbsent()).isTrue();
        assertThat(again.version()).isEqualTo(written);
        assertThat(done(store().putAbsentIfVersion("k", read, "holder", LONG_TTL)))
                .as("fenced on the read")
                .isZero();
        assertThat(done(store().tryLease("k", "next", LONG_TTL)))
                .as("a later miss may take the lease")
                .isTrue();
        put("k", "v");
        assertThat(get("k").foundAbsent()).isFalse();
        RemoteValue afterClear = get("k");
        RemoteValue readJ = get("j");
        assertThat(done(store().tryLease("j", "holder", LONG_TTL, readJ))).isTrue();
        assertThat(done(store().putAbsentIfVersion("j", readJ, "holder", LONG_TTL)))
                .isPositive();
        done(store().clear());
        assertThat(get("j").foundAbsent()).as("retired by a clear like a value").isFalse();
        assertThat(afterClear.value()).isNotNull();
    }

    @Test
    void manyWriteBacksFencedOnTheSameReadWriteExactlyOnce() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            String key = "k" + round;
            if (round % 2 == 1) {
                put(key, "present");
            }
            RemoteValue read = get(key);
            List<Boolean> written = atOnce(i -> wrote(store().putIfVersion(key, bytes("load-" + i), read, LONG_TTL)));
            assertThat(written).as("round %d", round).containsOnlyOnce(true);
            assertThat(text(get(key))).isEqualTo("load-" + written.indexOf(true));
        }
    }

    @Test
    void concurrentPutsGetDistinctVersionsAndTheNewestStays() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            String key = "k" + round;
            List<Long> versions = atOnce(i -> done(store().put(key, bytes("put-" + i), LONG_TTL)));
            Set<Long> distinct = new HashSet<>(versions);
            assertThat(distinct).as("round %d: %s", round, versions).hasSize(THREADS);
            long newest = versions.stream().mapToLong(Long::longValue).max().orElseThrow();
            RemoteValue read = get(key);
            assertThat(read.version()).isEqualTo(newest);
            assertThat(text(read)).isEqualTo("put-" + versions.indexOf(newest));
        }
    }

    @Test
    void manyTokensRacingForOneLeaseGetItOnce() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            String key = "k" + round;
            List<Boolean> granted = atOnce(i -> done(store().tryLease(key, "token-" + i, LONG_TTL)));
            assertThat(granted).as("round %d", round).containsOnlyOnce(true);
        }
    }
}
