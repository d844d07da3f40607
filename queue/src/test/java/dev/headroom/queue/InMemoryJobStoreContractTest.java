package dev.headroom.queue;

import dev.headroom.core.testing.FakeTicker;
import java.time.Duration;
import java.time.Instant;

/** The conformance suite on {@link InMemoryJobStore}, with time driven by a fake ticker. */
class InMemoryJobStoreContractTest extends JobStoreContract {

    private final FakeTicker ticker = new FakeTicker();
    private final InMemoryJobStore store = InMemoryJobStore.create(ticker);

    @Override
    protected JobStore store() {
        return store;
    }

    @Override
    protected void elapse(Duration d) {
        ticker.advance(d);
    }

    @Override
    protected Instant storeNow() {
        return store.now();
    }

    @Override
    protected Duration shortDelay() {
        return Duration.ofSeconds(30);
    }
}
