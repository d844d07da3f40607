package dev.headroom.benchmarks;

import dev.headroom.queue.ClaimedJob;
import dev.headroom.queue.DeadLetter;
import dev.headroom.queue.DeadLetterFilter;
import dev.headroom.queue.EnqueueResult;
import dev.headroom.queue.FailOutcome;
import dev.headroom.queue.JobId;
import dev.headroom.queue.JobStore;
import dev.headroom.queue.JobWakeups;
import dev.headroom.queue.LeaseToken;
import dev.headroom.queue.NewJob;
import dev.headroom.queue.QueueStats;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * A store that forwards every call and counts claims and completions, for {@link
 * QueueThroughputHarness}'s cheap profile: how many claim round trips, how many came back short
 * (after which the worker waits for a wakeup or its poll interval), how many completion batches.
 * Thread-safe if the delegate is.
 */
final class CountingJobStore implements JobStore {
    final AtomicLong claimCalls = new AtomicLong();
    final AtomicLong claimAsked = new AtomicLong();
    final AtomicLong claimed = new AtomicLong();
    final AtomicLong shortClaims = new AtomicLong();
    final AtomicLong claimNanos = new AtomicLong();
    final AtomicLong completeCalls = new AtomicLong();
    final AtomicLong completed = new AtomicLong();
    final AtomicLong completeNanos = new AtomicLong();
    final AtomicLong wakeups = new AtomicLong();

    private final JobStore delegate;

    CountingJobStore(JobStore delegate) {
        this.delegate = delegate;
    }

    @Override
    public EnqueueResult enqueue(NewJob job) {
        return delegate.enqueue(job);
    }

    @Override
    public List<EnqueueResult> enqueueAll(List<NewJob> jobs) {
        return delegate.enqueueAll(jobs);
    }

    @Override
    public List<ClaimedJob> claim(String queue, int max, Duration lease, String worker) {
        long start = System.nanoTime();
        List<ClaimedJob> jobs = delegate.claim(queue, max, lease, worker);
        claimNanos.addAndGet(System.nanoTime() - start);
        claimCalls.incrementAndGet();
        claimAsked.addAndGet(max);
        claimed.addAndGet(jobs.size());
        if (jobs.size() < max) {
            shortClaims.incrementAndGet();
        }
        return jobs;
    }

    @Override
    public Optional<Instant> heartbeat(JobId id, LeaseToken token, Duration lease) {
        return delegate.heartbeat(id, token, lease);
    }

    @Override
    public boolean complete(JobId id, LeaseToken token) {
        completeCalls.incrementAndGet();
        boolean done = delegate.complete(id, token);
        if (done) {
            completed.incrementAndGet();
        }
        return done;
    }

    @Override
    public Set<JobId> completeAll(Collection<ClaimedJob> jobs) {
        long start = System.nanoTime();
        Set<JobId> done = delegate.completeAll(jobs);
        completeNanos.addAndGet(System.nanoTime() - start);
        completeCalls.incrementAndGet();
        completed.addAndGet(done.size());
        return done;
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
        return delegate.subscribe(new JobWakeups() {
            @Override
            public void jobsAvailable(String queue) {
                CountingJobStore.this.wakeups.incrementAndGet();
                wakeups.jobsAvailable(queue);
            }

            @Override
            public void notificationsMissing(String why) {
                wakeups.notificationsMissing(why);
            }

            @Override
            public void notificationsRestored() {
                wakeups.notificationsRestored();
            }
        });
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
