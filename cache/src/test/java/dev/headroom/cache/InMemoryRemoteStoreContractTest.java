package dev.headroom.cache;

import static org.assertj.core.api.Assertions.assertThat;

import dev.headroom.core.testing.FakeTicker;
import java.time.Duration;
import org.awaitility.core.ThrowingRunnable;
import org.junit.jupiter.api.Test;

/** The unit tests' {@link InMemoryRemoteStore} keeps every promise the Redis store keeps. */
class InMemoryRemoteStoreContractTest extends RemoteStoreContract {

    private final FakeTicker ticker = new FakeTicker();
    private final InMemoryRemoteStore store = new InMemoryRemoteStore(ticker);

    @Override
    RemoteStore store() {
        return store;
    }

    @Override
    RemoteStore secondInstance() {
        return store.secondInstance();
    }

    @Override
    RemoteStore neighbour() {
        return new InMemoryRemoteStore(ticker);
    }

    @Override
    void loseRecord(String key) {
        store.lose(key);
    }

    @Override
    Duration shortTtl() {
        return Duration.ofSeconds(1);
    }

    @Override
    void afterTtl(Duration ttl, ThrowingRunnable check) throws Exception {
        ticker.advance(ttl);
        try {
            check.run();
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    @Test
    void aValueAndALeaseLastTheirWholeTtl() throws Exception {
        done(store.put("k", bytes("v"), Duration.ofSeconds(1)));
        assertThat(done(store.tryLease("lease", "a", Duration.ofSeconds(1)))).isTrue();
        ticker.advance(Duration.ofMillis(999));
        assertThat(text(done(store.get("k")))).isEqualTo("v");
        assertThat(done(store.tryLease("lease", "b", Duration.ofSeconds(1)))).isFalse();
        ticker.advance(Duration.ofMillis(1));
        assertThat(done(store.get("k")).value()).isNull();
        assertThat(done(store.tryLease("lease", "b", Duration.ofSeconds(1)))).isTrue();
    }
}
