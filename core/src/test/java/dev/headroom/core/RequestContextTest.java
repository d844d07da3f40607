package dev.headroom.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.headroom.core.testing.FakeTicker;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RequestContextTest {

    private final FakeTicker ticker = new FakeTicker();

    @AfterEach
    void nothingLeaksOutOfATest() {
        assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
    }

    @Test
    void withoutAScopeTheCurrentContextIsTheEmptyOne() {
        RequestContext ctx = RequestContext.current();
        assertThat(ctx.deadline()).isEmpty();
        assertThat(ctx.criticality()).isEqualTo(Criticality.DEFAULT);
        assertThat(ctx.shardKey()).isEmpty();
        assertThat(ctx.consistencyToken()).isEmpty();
    }

    @Test
    void aScopeMakesItsContextCurrentUntilClosed() {
        RequestContext ctx = RequestContext.empty()
                .withCriticality(Criticality.CRITICAL)
                .withShardKey(42L)
                .withConsistencyToken(ConsistencyToken.parse("pg:0/3000148"));
        try (RequestContext.Scope scope = ctx.open()) {
            assertThat(RequestContext.current()).isSameAs(ctx).isSameAs(scope.context());
            assertThat(RequestContext.current().shardKey()).contains(42L);
        }
        assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
    }

    @Test
    void nestedScopesRestoreTheirParentsInOrder() {
        RequestContext outer = RequestContext.empty().withShardKey("outer");
        try (RequestContext.Scope a = outer.open()) {
            RequestContext inner = RequestContext.current().withCriticality(Criticality.SHEDDABLE);
            try (RequestContext.Scope b = inner.open()) {
                assertThat(RequestContext.current().shardKey()).contains("outer");
                assertThat(RequestContext.current().criticality()).isEqualTo(Criticality.SHEDDABLE);
                try (RequestContext.Scope c = outer.open()) { // the same context opened twice
                    assertThat(RequestContext.current()).isSameAs(outer);
                }
                assertThat(RequestContext.current()).isSameAs(inner);
            }
            assertThat(RequestContext.current()).isSameAs(outer);
        }
    }

    @Test
    void closingRestoresTheParentWhenTheBlockThrows() {
        RequestContext outer = RequestContext.empty().withShardKey(1);
        try (RequestContext.Scope a = outer.open()) {
            assertThatThrownBy(() -> {
                        try (RequestContext.Scope b = outer.withShardKey(2).open()) {
                            throw new IllegalStateException("boom");
                        }
                    })
                    .hasMessage("boom");
            assertThat(RequestContext.current()).isSameAs(outer);
        }
    }

    @Test
    void closingTwiceIsHarmless() {
        RequestContext outer = RequestContext.empty().withShardKey(1);
        try (RequestContext.Scope a = outer.open()) {
            RequestContext.Scope b = outer.withShardKey(2).open();
            b.close();
            b.close();
            assertThat(RequestContext.current()).isSameAs(outer);
        }
    }

    @Test
    void closingAScopeWhoseChildLeakedRestoresItsOwnParent() {
        RequestContext outer = RequestContext.empty().withShardKey("outer");
        try (RequestContext.Scope a = outer.open()) {
            RequestContext.Scope leaked = outer.withShardKey("leaked").open();
            RequestContext.Scope middle = outer.withShardKey("middle").open();
            leaked.close(); // out of order: its child 'middle' is still open
            assertThat(RequestContext.current()).isSameAs(outer);
            middle.close(); // its parent is closed: restore the nearest open ancestor
            assertThat(RequestContext.current()).isSameAs(outer);
        }
    }

    @Test
    void aScopeCannotBeClosedOnAnotherThread() throws Exception {
        RequestContext.Scope scope = RequestContext.empty().withShardKey(1).open();
        try {
            Future<?> f = Executors.newSingleThreadExecutor().submit(scope::close);
            assertThatThrownBy(f::get)
                    .hasCauseInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("cannot be closed on thread");
            assertThat(RequestContext.current().shardKey()).contains(1);
        } finally {
            scope.close();
        }
    }

    @Test
    void aNestedDeadlineCanShortenButNeverExtendTheParent() {
        RequestContext parent = RequestContext.empty().withDeadline(Deadline.after(Duration.ofMillis(100), ticker));
        RequestContext longer = parent.withDeadline(Deadline.after(Duration.ofSeconds(10), ticker));
        RequestContext shorter = parent.withDeadline(Deadline.after(Duration.ofMillis(20), ticker));
        assertThat(longer.deadline().orElseThrow().remaining()).isEqualTo(Duration.ofMillis(100));
        assertThat(shorter.deadline().orElseThrow().remaining()).isEqualTo(Duration.ofMillis(20));
    }

    @Test
    void contextsAreIsolatedBetweenThreads() throws Exception {
        int threads = 16;
        CountDownLatch allOpen = new CountDownLatch(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Object>> seen = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                int id = i;
                seen.add(pool.submit(() -> {
                    try (RequestContext.Scope s =
                            RequestContext.empty().withShardKey(id).open()) {
                        allOpen.countDown();
                        // every thread holds its scope open at the same time
                        assertThat(allOpen.await(10, TimeUnit.SECONDS)).isTrue();
                        return RequestContext.current().shardKey().orElseThrow();
                    }
                }));
            }
            for (int i = 0; i < threads; i++) {
                assertThat(seen.get(i).get(10, TimeUnit.SECONDS)).isEqualTo(i);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void manyThreadsNestingScopesAlwaysSeeTheirOwnInnermostContext() throws Exception {
        int threads = 8;
        int iterations = 20_000;
        CountDownLatch start = new CountDownLatch(1);
        ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                done.add(pool.submit(() -> {
                    start.await();
                    for (int i = 0; i < iterations; i++) {
                        int depth = 1 + ThreadLocalRandom.current().nextInt(4);
                        nest(thread, i, depth, violations);
                        if (RequestContext.current() != RequestContext.empty()) {
                            violations.add("thread " + thread + " leaked a context after iteration " + i);
                        }
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(violations).isEmpty();
    }

    private static void nest(int thread, int iteration, int depth, ConcurrentLinkedQueue<String> violations) {
        if (depth == 0) {
            return;
        }
        String key = thread + "/" + iteration + "/" + depth;
        RequestContext before = RequestContext.current();
        try (RequestContext.Scope s = before.withShardKey(key).open()) {
            if (!RequestContext.current().shardKey().orElseThrow().equals(key)) {
                violations.add("expected " + key + " but saw "
                        + RequestContext.current().shardKey());
            }
            nest(thread, iteration, depth - 1, violations);
        }
        if (RequestContext.current() != before) {
            violations.add("scope " + key + " did not restore its parent");
        }
    }

    @Test
    void wrapRunsATaskInTheCapturedContextOnAnotherThreadAndRestoresThatThread() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            RequestContext ctx = RequestContext.empty().withShardKey("tenant-7");
            AtomicReference<Object> seen = new AtomicReference<>();
            pool.submit(ctx.wrap(
                            () -> seen.set(RequestContext.current().shardKey().orElseThrow())))
                    .get(10, TimeUnit.SECONDS);
            assertThat(seen).hasValue("tenant-7");
            Object callable = pool.submit(
                            ctx.wrap(() -> RequestContext.current().shardKey().orElseThrow()))
                    .get(10, TimeUnit.SECONDS);
            assertThat(callable).isEqualTo("tenant-7");
            // the pool thread is clean afterwards
            assertThat(pool.submit(RequestContext::current).get(10, TimeUnit.SECONDS))
                    .isSameAs(RequestContext.empty());
        } finally {
            pool.shutdownNow();
        }
    }

    /** A pool whose threads are reset after every task, as a framework integrator would wire it. */
    private static ThreadPoolExecutor resettingPool(int threads, List<RequestContext> discarded) {
        return new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>()) {
            @Override
            protected void afterExecute(Runnable r, Throwable t) {
                RequestContext left = RequestContext.resetThread();
                if (left != RequestContext.empty()) {
                    discarded.add(left);
                }
            }
        };
    }

    @Test
    void aScopeLeakedOnAPooledThreadIsSeenByTheNextTaskUnlessTheThreadIsReset() throws Exception {
        Runnable leak = () -> RequestContext.empty().withShardKey("leaked").open(); // never closed
        ExecutorService plain = Executors.newSingleThreadExecutor();
        try {
            plain.submit(leak).get(10, TimeUnit.SECONDS);
            // the hazard the reset exists for: the next unrelated task runs as the leaked request
            assertThat(plain.submit(() -> RequestContext.current().shardKey()).get(10, TimeUnit.SECONDS))
                    .contains("leaked");
        } finally {
            plain.shutdownNow();
        }
        List<RequestContext> discarded = new CopyOnWriteArrayList<>();
        ThreadPoolExecutor resetting = resettingPool(1, discarded);
        try {
            for (int i = 0; i < 100; i++) {
                resetting.submit(leak).get(10, TimeUnit.SECONDS);
                assertThat(resetting.submit(RequestContext::current).get(10, TimeUnit.SECONDS))
                        .isSameAs(RequestContext.empty());
            }
            assertThat(discarded)
                    .hasSize(100)
                    .allSatisfy(c -> assertThat(c.shardKey()).contains("leaked"));
        } finally {
            resetting.shutdownNow();
        }
    }

    @Test
    void resetThreadDiscardsEveryOpenScopeAndALateCloseRestoresNothing() {
        RequestContext.Scope outer =
                RequestContext.empty().withShardKey("outer").open();
        RequestContext.Scope inner =
                RequestContext.empty().withShardKey("inner").open();
        assertThat(RequestContext.resetThread().shardKey()).contains("inner");
        assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
        assertThat(RequestContext.resetThread()).isSameAs(RequestContext.empty()); // nothing left
        try (RequestContext.Scope next =
                RequestContext.empty().withShardKey("next").open()) {
            inner.close(); // discarded scopes are closed: this must not restore "outer"
            outer.close();
            assertThat(RequestContext.current().shardKey()).contains("next");
        }
        assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
    }

    @Test
    void aLeakedScopeClosedLaterInAnotherTaskDoesNotClobberThatTasksContext() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Executor propagating = RequestContext.propagating(pool);
            AtomicReference<RequestContext.Scope> leaked = new AtomicReference<>();
            try (RequestContext.Scope a =
                    RequestContext.empty().withShardKey("a").open()) {
                CompletableFuture.runAsync(
                                () -> leaked.set(RequestContext.current()
                                        .withShardKey("a-inner")
                                        .open()),
                                propagating)
                        .get(10, TimeUnit.SECONDS);
            }
            // the propagating executor discarded what task a leaked
            assertThat(pool.submit(RequestContext::current).get(10, TimeUnit.SECONDS))
                    .isSameAs(RequestContext.empty());
            try (RequestContext.Scope b =
                    RequestContext.empty().withShardKey("b").open()) {
                Object seen = CompletableFuture.supplyAsync(
                                () -> {
                                    leaked.get().close(); // a deferred close from task a's code
                                    return RequestContext.current().shardKey().orElseThrow();
                                },
                                propagating)
                        .get(10, TimeUnit.SECONDS);
                assertThat(seen).isEqualTo("b");
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void wrapRunsInItsCapturedContextOverALeakedScopeAndRestoresWhatItFound() throws Exception {
        RequestContext.Scope leaked =
                RequestContext.empty().withShardKey("leaked").open();
        try {
            Runnable task = RequestContext.empty().withShardKey("captured").wrap(() -> {
                assertThat(RequestContext.current().shardKey()).contains("captured");
                RequestContext.empty().withShardKey("leaked-inside").open(); // leaked by the task
            });
            task.run(); // runs on this thread, as a caller-runs executor would
            assertThat(RequestContext.current().shardKey()).contains("leaked");
            Runnable resets = RequestContext.empty().withShardKey("captured").wrap(() -> {
                RequestContext.resetThread();
                RequestContext.empty().withShardKey("after-reset").open(); // leaked after a reset
            });
            resets.run();
            // the task reset the thread: the scope it found is gone, and nothing it opened survives
            assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
        } finally {
            leaked.close();
            RequestContext.resetThread();
        }
    }

    @Test
    void aWrappedTaskClosingTheScopeItFoundDoesNotDiscardTheScopesBelowIt() {
        try (RequestContext.Scope g = RequestContext.empty().withShardKey("G").open()) {
            RequestContext.Scope p = RequestContext.empty().withShardKey("P").open();
            AtomicReference<Object> seenInTask = new AtomicReference<>();
            RequestContext.empty()
                    .withShardKey("W")
                    .wrap(() -> {
                        p.close(); // not this task's scope: closing it must not unseat the task's context
                        seenInTask.set(RequestContext.current().shardKey().orElseThrow());
                    })
                    .run(); // inline, as a caller-runs executor does
            assertThat(seenInTask).hasValue("W");
            assertThat(RequestContext.current().shardKey())
                    .as("P was closed, G never was")
                    .contains("G");
        }
        assertThat(RequestContext.current()).isSameAs(RequestContext.empty());
    }

    @Test
    void aLateCloseOfAScopeLeakedBelowAWrappedTaskDoesNotUnseatTheTasksContext() throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            AtomicReference<RequestContext.Scope> leaked = new AtomicReference<>();
            pool.submit(
                            () -> { // unwrapped, no reset hook: leaks K, then L on top of it
                                RequestContext.empty().withShardKey("K").open();
                                leaked.set(
                                        RequestContext.empty().withShardKey("L").open());
                            })
                    .get(10, TimeUnit.SECONDS);
            Object seen = pool.submit(RequestContext.empty().withShardKey("B").wrap(() -> {
                        leaked.get().close(); // a deferred close from the first task's code
                        return RequestContext.current().shardKey().orElseThrow();
                    }))
                    .get(10, TimeUnit.SECONDS);
            assertThat(seen).isEqualTo("B");
            // the thread is back in the state the wrapped task found, minus the scope it closed
            assertThat(pool.submit(() -> RequestContext.current().shardKey()).get(10, TimeUnit.SECONDS))
                    .contains("K");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void manyPooledTasksLeakingAtRandomNeverSeeAnotherTasksContext() throws Exception {
        List<RequestContext> discarded = new CopyOnWriteArrayList<>();
        ThreadPoolExecutor pool = resettingPool(4, discarded);
        try {
            Executor propagating = RequestContext.propagating(pool);
            ConcurrentLinkedQueue<String> violations = new ConcurrentLinkedQueue<>();
            List<CompletableFuture<Void>> tasks = new ArrayList<>();
            long leaks = 0;
            for (int i = 0; i < 2_000; i++) {
                int id = i;
                boolean leak = ThreadLocalRandom.current().nextInt(16) == 0;
                leaks += leak ? 1 : 0;
                Executor executor = (id & 1) == 0 ? propagating : pool;
                RequestContext mine = RequestContext.empty().withShardKey(id);
                Runnable body = () -> {
                    RequestContext seen = RequestContext.current();
                    boolean propagated = (id & 1) == 0;
                    if (propagated
                            ? !seen.shardKey().equals(java.util.Optional.of(id))
                            : seen != RequestContext.empty()) {
                        violations.add("task " + id + " saw " + seen);
                    }
                    if (leak) {
                        seen.withCriticality(Criticality.SHEDDABLE).open();
                    }
                };
                try (RequestContext.Scope s = mine.open()) {
                    tasks.add(CompletableFuture.runAsync(body, executor));
                }
            }
            CompletableFuture.allOf(tasks.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
            assertThat(violations).isEmpty();
            assertThat(discarded).hasSizeLessThanOrEqualTo((int) leaks); // propagated leaks never reach the reset
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aPropagatingExecutorCarriesTheSubmittersContext() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            var executor = RequestContext.propagating(pool);
            try (RequestContext.Scope s = RequestContext.empty()
                    .withCriticality(Criticality.SHEDDABLE)
                    .open()) {
                CompletableFuture<Criticality> seen = CompletableFuture.supplyAsync(
                        () -> RequestContext.current().criticality(), executor);
                assertThat(seen.get(10, TimeUnit.SECONDS)).isEqualTo(Criticality.SHEDDABLE);
            }
            CompletableFuture<Criticality> outside =
                    CompletableFuture.supplyAsync(() -> RequestContext.current().criticality(), executor);
            assertThat(outside.get(10, TimeUnit.SECONDS)).isEqualTo(Criticality.DEFAULT);
            // a plain executor does not inherit it: propagation is explicit
            try (RequestContext.Scope s =
                    RequestContext.empty().withCriticality(Criticality.CRITICAL).open()) {
                assertThat(CompletableFuture.supplyAsync(
                                        () -> RequestContext.current().criticality(), pool)
                                .get(10, TimeUnit.SECONDS))
                        .isEqualTo(Criticality.DEFAULT);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void worksOnVirtualThreads() throws Throwable {
        assumeTrue(Runtime.version().feature() >= 21, "virtual threads need JDK 21+; run the build on JDK 25");
        // Executors.newVirtualThreadPerTaskExecutor() through a method handle: the code is compiled for 17.
        ExecutorService virtual = (ExecutorService) MethodHandles.publicLookup()
                .findStatic(
                        Executors.class,
                        "newVirtualThreadPerTaskExecutor",
                        MethodType.methodType(ExecutorService.class))
                .invoke();
        try {
            int tasks = 1_000;
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < tasks; i++) {
                int id = i;
                results.add(virtual.submit(() -> {
                    try (RequestContext.Scope s =
                            RequestContext.empty().withShardKey(id).open()) {
                        Thread.sleep(1); // unmount and remount, possibly on another carrier
                        return RequestContext.current().shardKey().orElseThrow().equals(id);
                    }
                }));
            }
            for (Future<Boolean> f : results) {
                assertThat(f.get(30, TimeUnit.SECONDS)).isTrue();
            }
            RequestContext ctx = RequestContext.empty().withShardKey("carried");
            assertThat(virtual.submit(ctx.wrap(
                                    () -> RequestContext.current().shardKey().orElseThrow()))
                            .get(10, TimeUnit.SECONDS))
                    .isEqualTo("carried");
        } finally {
            virtual.shutdownNow();
        }
    }

    @Test
    void nullArgumentsAreRejectedNamingTheParameter() {
        RequestContext ctx = RequestContext.empty();
        assertThatThrownBy(() -> ctx.withShardKey(null)).hasMessageContaining("shardKey");
        assertThatThrownBy(() -> ctx.withCriticality(null)).hasMessageContaining("criticality");
        assertThatThrownBy(() -> ctx.withDeadline(null)).hasMessageContaining("deadline");
        assertThatThrownBy(() -> ctx.withConsistencyToken(null)).hasMessageContaining("consistencyToken");
        assertThatThrownBy(() -> ctx.wrap((Runnable) null)).hasMessageContaining("task");
        assertThatThrownBy(() -> RequestContext.propagating(null)).hasMessageContaining("delegate");
    }
}
