package dev.headroom.queue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Where jobs live: the SPI every store implements (PostgreSQL, in-memory, Redis later) and that
 * one conformance suite checks. {@link JobQueue} sits in front of it and adds validation of sizes,
 * the retry policy and metrics.
 *
 * <p>What a store must guarantee, across every process that shares it:
 *
 * <ul>
 *   <li><b>Idempotency</b>: at most one job per idempotency key, enforced atomically by the store
 *       (a unique constraint, a lock), never by a check followed by an insert. A key stays taken after
 *       its job completes or dies, until the store's retention removes it.
 *   <li><b>Leases</b>: a claim takes due jobs, counts the attempt, and issues each a fresh {@link
 *       LeaseToken} and an expiry. A job whose lease expired is claimable again (rescue) by the next
 *       claim, which issues a new token.
 *   <li><b>Fencing</b>: {@link #complete}, {@link #fail} and {@link #heartbeat} act only when the
 *       token is the job's current one, atomically with the change they make; otherwise they change
 *       nothing and report it. A token whose lease expired stays current until someone claims the
 *       job again.
 *   <li><b>Dead letters</b>: a failure of the last attempt, a permanent failure, or a lease that
 *       expires on the last attempt moves the job to the {@link DeadLetters} with its error history.
 * </ul>
 *
 * <p>Every method is atomic: on an exception it had no effect, or — if the reply was lost after the
 * commit — all of it (see {@link JobStoreException}). Implementations are thread-safe.
 */
public interface JobStore extends DeadLetters {

    /**
     * Enqueues a job, or finds the job that holds its idempotency key.
     *
     * @param job the job
     * @return the id and whether it was created
     * @throws JobStoreException if the store fails
     */
    EnqueueResult enqueue(NewJob job);

    /**
     * Enqueues many jobs, each as {@link #enqueue(NewJob)} would (keys included). The default makes
     * one call per job and is not atomic; a store that can should enqueue all or none, in few round
     * trips.
     *
     * @param jobs the jobs, in order
     * @return one result per job, in the same order
     * @throws JobStoreException if the store fails
     */
    default List<EnqueueResult> enqueueAll(List<NewJob> jobs) {
        List<EnqueueResult> results = new ArrayList<>(jobs.size());
        for (NewJob job : jobs) {
            results.add(enqueue(job));
        }
        return results;
    }

    /**
     * Claims up to {@code max} due jobs of one queue: available jobs whose run-at time has come, and
     * running jobs whose lease expired, lowest priority number first, then oldest run-at. Jobs held by
     * a concurrent claim are skipped, not waited for. A rescued job whose expired attempt was its last
     * is dead-lettered instead of claimed.
     *
     * @param queue the queue
     * @param max the most jobs to claim, at least 1
     * @param lease how long the lease lasts, positive
     * @param worker who claims, recorded in error histories
     * @return the claimed jobs, possibly none
     * @throws JobStoreException if the store fails (then nothing was claimed)
     */
    List<ClaimedJob> claim(String queue, int max, Duration lease, String worker);

    /**
     * {@link #claim} that also reports how many expired last attempts it moved to the dead letters,
     * so that {@link JobQueue} can count them ({@code headroom.queue.dead_lettered}). The stores of
     * this library override it; the default claims through {@link #claim} and reports none.
     *
     * @param queue the queue
     * @param max the most jobs to claim, at least 1
     * @param lease how long the lease lasts, positive
     * @param worker who claims, recorded in error histories
     * @return the claimed jobs and the count dead-lettered
     * @throws JobStoreException if the store fails (then nothing was claimed or dead-lettered)
     */
    default ClaimBatch claimBatch(String queue, int max, Duration lease, String worker) {
        return new ClaimBatch(claim(queue, max, lease, worker), 0);
    }

    /**
     * Extends a lease to {@code lease} from now, if the token is still the job's current one.
     *
     * @param id the job
     * @param token the lease token
     * @param lease the new lease length from now, positive
     * @return the new expiry, or empty if the token is stale
     * @throws JobStoreException if the store fails
     */
    Optional<Instant> heartbeat(JobId id, LeaseToken token, Duration lease);

    /**
     * Completes a job, if the token is still the job's current one. The job is removed (its
     * idempotency key stays taken).
     *
     * @param id the job
     * @param token the lease token
     * @return true if completed; false if the token is stale, nothing changed
     * @throws JobStoreException if the store fails
     */
    boolean complete(JobId id, LeaseToken token);

    /**
     * Records a failed attempt, if the token is still the job's current one, and either schedules the
     * retry or, when this was the last attempt or {@code retryAfter} is null, moves the job to the
     * dead letters.
     *
     * @param id the job
     * @param token the lease token
     * @param message what went wrong, kept in the error history
     * @param worker who failed it, kept in the error history
     * @param retryAfter how long from now the job becomes claimable again, or null to dead-letter it
     *     regardless of attempts left
     * @return what happened
     * @throws JobStoreException if the store fails
     */
    FailOutcome fail(JobId id, LeaseToken token, String message, String worker, @Nullable Duration retryAfter);

    /**
     * Completes several claimed jobs in one call (a worker's batch of finished jobs), each as {@link
     * #complete} would: only those whose token is still current. Not atomic as a whole: on an
     * exception, some may have completed (each either did or did not).
     *
     * @param jobs the claimed jobs
     * @return the ids of those completed
     * @throws JobStoreException if the store fails
     */
    default Set<JobId> completeAll(Collection<ClaimedJob> jobs) {
        Set<JobId> done = new HashSet<>();
        for (ClaimedJob job : jobs) {
            if (complete(job.id(), job.lease())) {
                done.add(job.id());
            }
        }
        return done;
    }

    /**
     * Gives back a claimed job that was never started (a worker shutting down, an executor that
     * refused it): available again at once, its attempt not counted, if the token is still current.
     *
     * @param id the job
     * @param token the lease token
     * @return true if released; false if the token is stale
     * @throws JobStoreException if the store fails
     */
    boolean release(JobId id, LeaseToken token);

    /**
     * Starts telling {@code wakeups} when jobs may have become available (an enqueue committed), so
     * workers claim at once instead of at their next poll. A hint only: it may be late, missing or
     * spurious, so workers must poll as well. The default tells nothing.
     *
     * @param wakeups whom to tell; called from a thread of the store's, must not block
     * @return stops the notifications
     */
    default AutoCloseable subscribe(JobWakeups wakeups) {
        return () -> {};
    }

    /**
     * Counts a queue's jobs by state, and how long its oldest ready job has waited. On PostgreSQL one
     * scan of the queue's rows: call it every few seconds, not per job.
     *
     * @param queue the queue
     * @return the stats now
     * @throws JobStoreException if the store fails
     */
    QueueStats stats(String queue);

    /**
     * Frees idempotency keys taken longer ago than {@code window} whose jobs are finished (completed;
     * not waiting, running or dead): an enqueue with such a key creates a new job again. Deletes in
     * batches of at most {@code limit} so it never holds a long transaction.
     *
     * @param window how long a key stays taken at least, positive
     * @param limit the most keys freed by this call, at least 1
     * @return how many keys were freed
     * @throws JobStoreException if the store fails
     */
    int purgeKeys(Duration window, int limit);
}
