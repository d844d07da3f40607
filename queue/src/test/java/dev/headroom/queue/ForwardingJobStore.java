package dev.headroom.queue;

import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/** A store that forwards every call; tests override what they count or script. */
class ForwardingJobStore implements JobStore {
    private final JobStore delegate;

    ForwardingJobStore(JobStore delegate) {
        this.delegate = delegate;
    }

    @Override
    public EnqueueResult enqueue(NewJob job) {
        return delegate.enqueue(job);
    }

    @Override
    public List<ClaimedJob> claim(String queue, int max, Duration lease, String worker) {
        return delegate.claim(queue, max, lease, worker);
    }

    @Override
    public Optional<Instant> heartbeat(JobId id, LeaseToken token, Duration lease) {
        return delegate.heartbeat(id, token, lease);
    }

    @Override
    public boolean complete(JobId id, LeaseToken token) {
        return delegate.complete(id, token);
    }

    @Override
    public Set<JobId> completeAll(Collection<ClaimedJob> jobs) {
        return delegate.completeAll(jobs);
    }

    @Override
    public FailOutcome fail(JobId id, LeaseToken token, String message, String worker, @Nullable Duration retryAfter) {
        return delegate.fail(id, token, message, worker, retryAfter);
    }

    @Override
    public boolean release(JobId id, LeaseToken token) {
        return delegate.release(id, token);
    }

    @Override
    public AutoCloseable subscribe(JobWakeups wakeups) {
        return delegate.subscribe(wakeups);
    }

    @Override
    public List<DeadLetter> list(DeadLetterFilter filter, int limit) {
        return delegate.list(filter, limit);
    }

    @Override
    public int replay(DeadLetterFilter filter) {
        return delegate.replay(filter);
    }

    @Override
    public int purge(DeadLetterFilter filter) {
        return delegate.purge(filter);
    }

    @Override
    public QueueStats stats(String queue) {
        return delegate.stats(queue);
    }

    @Override
    public int purgeKeys(Duration window, int limit) {
        return delegate.purgeKeys(window, limit);
    }
}
