package dev.headroom.benchmarks;

import dev.headroom.core.Criticality;
import dev.headroom.core.RequestContext;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The cost of opening and closing a {@link RequestContext} scope, beside the raw {@link ThreadLocal}
 * operations a hand-written context holder would do, in the same run.
 *
 * <ul>
 *   <li>{@code threadLocalSetRemove}: the floor — {@code set} then {@code remove}.
 *   <li>{@code threadLocalSetClear}: the cheapest raw holder — {@code set} then {@code set(null)},
 *       which keeps the thread's map entry (what {@link RequestContext.Scope#close()} does).
 *   <li>{@code threadLocalSaveRestore}: what a correct nestable holder must do — read the previous
 *       value, set, then restore the previous value.
 *   <li>{@code scopeOpenClose}: Headroom's scope, which also allocates the scope object and checks the
 *       closing thread.
 *   <li>{@code scopeOpenReadClose}: the same plus one {@link RequestContext#current()} read inside,
 *       the way components consume it.
 * </ul>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class RequestContextBenchmark {

    private static final ThreadLocal<Object> RAW = new ThreadLocal<>();

    private final RequestContext context = RequestContext.empty().withCriticality(Criticality.CRITICAL);

    @Benchmark
    public void threadLocalSetRemove(Blackhole bh) {
        RAW.set(context);
        bh.consume(context);
        RAW.remove();
    }

    @Benchmark
    public void threadLocalSetClear(Blackhole bh) {
        RAW.set(context);
        bh.consume(context);
        RAW.set(null);
    }

    @Benchmark
    public void threadLocalSaveRestore(Blackhole bh) {
        Object previous = RAW.get();
        RAW.set(context);
        bh.consume(context);
        if (previous == null) {
            RAW.remove();
        } else {
            RAW.set(previous);
        }
    }

    @Benchmark
    public void scopeOpenClose(Blackhole bh) {
        try (RequestContext.Scope scope = context.open()) {
            bh.consume(scope);
        }
    }

    @Benchmark
    public Criticality scopeOpenReadClose() {
        try (RequestContext.Scope scope = context.open()) {
            return RequestContext.current().criticality();
        }
    }
}
