package dev.headroom.cache;

import java.time.Duration;
import java.util.concurrent.CompletionStage;

/** A store that forwards every call to another; tests override what they script or record. */
public class ForwardingRemoteStore implements RemoteStore {
    private final RemoteStore delegate;

    public ForwardingRemoteStore(RemoteStore delegate) {
        this.delegate = delegate;
    }

    @Override
    public CompletionStage<RemoteValue> get(String key) {
        return delegate.get(key);
    }

    @Override
    public CompletionStage<Long> putIfVersion(String key, byte[] value, RemoteValue read, Duration ttl) {
        return delegate.putIfVersion(key, value, read, ttl);
    }

    @Override
    public CompletionStage<Long> putIfVersion(
            String key, byte[] value, RemoteValue read, String leaseToken, Duration ttl) {
        return delegate.putIfVersion(key, value, read, leaseToken, ttl);
    }

    @Override
    public CompletionStage<Long> putAbsentIfVersion(String key, RemoteValue read, String leaseToken, Duration ttl) {
        return delegate.putAbsentIfVersion(key, read, leaseToken, ttl);
    }

    @Override
    public CompletionStage<Long> put(String key, byte[] value, Duration ttl) {
        return delegate.put(key, value, ttl);
    }

    @Override
    public CompletionStage<Long> invalidate(String key) {
        return delegate.invalidate(key);
    }

    @Override
    public CompletionStage<Void> clear() {
        return delegate.clear();
    }

    @Override
    public CompletionStage<Boolean> refreshClears() {
        return delegate.refreshClears();
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl) {
        return delegate.tryLease(key, token, ttl);
    }

    @Override
    public CompletionStage<Boolean> tryLease(String key, String token, Duration ttl, RemoteValue read) {
        return delegate.tryLease(key, token, ttl, read);
    }

    @Override
    public CompletionStage<Boolean> tryRefreshLease(String key, String token, Duration ttl, RemoteValue read) {
        return delegate.tryRefreshLease(key, token, ttl, read);
    }

    @Override
    public CompletionStage<Void> releaseLease(String key, String token) {
        return delegate.releaseLease(key, token);
    }

    @Override
    public void close() {
        delegate.close();
    }
}
