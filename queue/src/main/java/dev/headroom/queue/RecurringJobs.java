package dev.headroom.queue;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recurring jobs: on each tick of a schedule (a fixed rate or a cron expression), enqueues one job
 * with the idempotency key {@code schedule:<name>:<tick in epoch ms>} and the tick as its run-at
 * time. Run it in every instance: the key makes exactly one job per tick across all of them,
 * whichever instances are up, late or racing.
 *
 * <pre>{@code
 * RecurringJobs schedules = RecurringJobs.builder(queue)
 *         .every("refresh-rates", Duration.ofMinutes(5), "refresh-rates", new byte[0])
 *         .cron("nightly-report", "30 2 * * *", ZoneId.of("Europe/Paris"), "report", new byte[0])
 *         .build()
 *         .start();
 * }</pre>
 *
 * <p>Ticks of a fixed rate are aligned on the epoch (every 5 minutes: :00, :05, ...), so every
 * instance agrees on them. Missed ticks: each instance enqueues every tick it reaches, even late
 * (after a pause, or an enqueue that failed and is retried every second until the next tick); a
 * tick passed while no instance ran is skipped, not caught up. Keep the idempotency window (if
 * any) longer than the period. Thread-safe.
 */
public final class RecurringJobs implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(RecurringJobs.class);
    private static final long RETRY_MILLIS = 1_000;

    /** When a schedule fires. */
    private interface Rule {
        Instant nextAfter(Instant t);
    }

    private static final class Schedule {
        final String name;
        final Rule rule;
        final String type;
        final byte[] payload;
        final EnqueueOptions options;
        /** The tick to enqueue next; set from the clock by {@link RecurringJobs}' constructor. */
        Instant due = Instant.MIN;
        /** Set when the schedule failed in a way retrying cannot mend (no tick left): skipped since. */
        boolean disabled;

        Schedule(String name, Rule rule, String type, byte[] payload, EnqueueOptions options) {
            this.name = name;
            this.rule = rule;
            this.type = type;
            this.payload = payload;
            this.options = options;
        }
    }

    /** Longest schedule name: {@code "schedule:" + name + ":" + epochMillis} stays within a key's 255. */
    public static final int MAX_NAME_LENGTH = EnqueueOptions.MAX_NAME_LENGTH - "schedule:".length() - 1 - 15;

    private final JobQueue queue;
    private final Clock clock;
    private final List<Schedule> schedules;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition stop = lock.newCondition();
    private final Thread thread;
    private volatile boolean closed;

    private RecurringJobs(Builder b) {
        this.queue = b.queue;
        this.clock = b.clock;
        this.schedules = List.copyOf(b.schedules.values());
        Instant now = clock.instant();
        for (Schedule s : schedules) {
            s.due = s.rule.nextAfter(now);
        }
        this.thread = new Thread(this::run, "headroom-queue-schedules");
        this.thread.setDaemon(true);
    }

    /**
     * Returns a builder over a queue.
     *
     * @param queue where the jobs go
     * @return a new builder
     */
    public static Builder builder(JobQueue queue) {
        return new Builder(Objects.requireNonNull(queue, "queue"));
    }

    /**
     * Starts the thread that enqueues each tick when it comes.
     *
     * @return this
     */
    public RecurringJobs start() {
        thread.start();
        return this;
    }

    private void run() {
        while (!closed) {
            long waitMillis = fireDue();
            lock.lock();
            try {
                if (!closed && waitMillis > 0) {
                    stop.await(waitMillis, TimeUnit.MILLISECONDS); // until the next tick; the clock is re-read
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } finally {
                lock.unlock();
            }
        }
    }

    /**
     * Enqueues every tick that is due by the clock, and returns how long until the next one (at
     * most a second when an enqueue failed and is retried). Package-private for tests, which drive
     * a fixed clock.
     */
    long fireDue() {
        Instant now = clock.instant();
        long wait = Long.MAX_VALUE;
        for (Schedule s : schedules) {
            if (s.disabled) {
                continue;
            }
            try {
                wait = Math.min(wait, fire(s, now));
            } catch (RuntimeException e) { // one broken schedule must not stop the others
                s.disabled = true;
                log.error("schedule '{}' disabled: {}", s.name, e.toString());
            }
        }
        return wait == Long.MAX_VALUE ? RETRY_MILLIS : wait;
    }

    /** Fires one schedule if due; returns how long until it needs looking at again. */
    private long fire(Schedule s, Instant now) {
        if (!s.due.isAfter(now)) {
            if (enqueue(s, s.due)) {
                s.due = s.rule.nextAfter(now); // ticks already passed are skipped
            } else {
                Instant next = s.rule.nextAfter(s.due);
                if (!next.isAfter(now)) {
                    s.due = s.rule.nextAfter(now); // gave up on a tick another one replaced
                }
                return RETRY_MILLIS;
            }
        }
        return Math.max(
                1, Math.min(RETRY_MILLIS * 3600, Duration.between(now, s.due).toMillis()));
    }

    private boolean enqueue(Schedule s, Instant tick) {
        EnqueueOptions options = s.options.toBuilder()
                .idempotencyKey("schedule:" + s.name + ":" + tick.toEpochMilli())
                .runAt(tick)
                .build();
        try {
            queue.enqueue(s.type, s.payload, options);
            return true;
        } catch (DuplicateJobException e) {
            // Another instance enqueued this tick with another payload (a rolling deploy that
            // changed it): the tick is taken all the same.
            log.debug("schedule '{}': tick {} already enqueued with another payload", s.name, tick);
            return true;
        } catch (RuntimeException e) {
            log.warn("schedule '{}': tick {} not enqueued ({}); retrying in 1 s", s.name, tick, e.toString());
            return false;
        }
    }

    /** Stops the thread; ticks not yet enqueued are left to the other instances. */
    @Override
    public void close() {
        closed = true;
        lock.lock();
        try {
            stop.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            thread.join(TimeUnit.SECONDS.toMillis(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Builds {@link RecurringJobs}; each setter checks its arguments. Not thread-safe. */
    public static final class Builder {
        private final JobQueue queue;
        private final Map<String, Schedule> schedules = new LinkedHashMap<>();
        private Clock clock = Clock.systemUTC();
        private EnqueueOptions options = EnqueueOptions.defaults();

        private Builder(JobQueue queue) {
            this.queue = queue;
        }

        /**
         * Sets the options of the schedules added after this call (queue, priority, attempts); their
         * key and run-at are the schedule's. Default {@link EnqueueOptions#defaults()}.
         *
         * @param options the options
         * @return this builder
         */
        public Builder options(EnqueueOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * Adds a fixed-rate schedule: a tick at every multiple of {@code period} since the epoch.
         *
         * @param name the schedule's name, part of every tick's idempotency key: keep it stable
         * @param period at least 1 s
         * @param type the job type
         * @param payload the payload of every job
         * @return this builder
         */
        public Builder every(String name, Duration period, String type, byte[] payload) {
            Objects.requireNonNull(period, "period");
            if (period.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException(
                        "period of schedule '" + name + "' must be at least 1 s, got " + period);
            }
            long p = period.toMillis();
            return add(name, t -> Instant.ofEpochMilli(Math.floorDiv(t.toEpochMilli(), p) * p + p), type, payload);
        }

        /**
         * Adds a cron schedule (see {@link CronExpression}) in a time zone.
         *
         * @param name the schedule's name, part of every tick's idempotency key: keep it stable
         * @param expression five-field cron expression
         * @param zone whose wall-clock times the expression names
         * @param type the job type
         * @param payload the payload of every job
         * @return this builder
         * @throws IllegalArgumentException naming the malformed field of the expression
         */
        public Builder cron(String name, String expression, ZoneId zone, String type, byte[] payload) {
            CronExpression cron = CronExpression.parse(expression);
            Objects.requireNonNull(zone, "zone");
            return add(
                    name,
                    t -> {
                        ZonedDateTime next = cron.next(t.atZone(zone));
                        if (next == null) {
                            throw new IllegalStateException("cron '" + expression + "' has no tick after " + t);
                        }
                        return next.toInstant();
                    },
                    type,
                    payload);
        }

        private Builder add(String name, Rule rule, String type, byte[] payload) {
            NewJob.checkName("name", name);
            if (name.length() > MAX_NAME_LENGTH) {
                throw new IllegalArgumentException("name of schedule must be at most " + MAX_NAME_LENGTH
                        + " characters (its ticks' idempotency keys, schedule:<name>:<epoch ms>, must fit in "
                        + EnqueueOptions.MAX_NAME_LENGTH + "), got " + name.length());
            }
            NewJob.checkName("type", type);
            Objects.requireNonNull(payload, "payload");
            if (schedules.containsKey(name)) {
                throw new IllegalArgumentException("schedule '" + name + "' is already defined");
            }
            schedules.put(name, new Schedule(name, rule, type, payload.clone(), options));
            return this;
        }

        /**
         * Sets the clock ticks are read from. Default: the system clock in UTC.
         *
         * @param clock the clock
         * @return this builder
         */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Builds the schedules, not started; the first tick of each is the first after now.
         *
         * @return the schedules
         * @throws IllegalStateException if no schedule was added
         */
        public RecurringJobs build() {
            if (schedules.isEmpty()) {
                throw new IllegalStateException("no schedule: call every(...) or cron(...)");
            }
            return new RecurringJobs(this);
        }
    }

    @Override
    public String toString() {
        List<String> names = new ArrayList<>();
        schedules.forEach(s -> names.add(s.name));
        return "RecurringJobs" + names;
    }

    /** For tests: the next tick a schedule will enqueue. */
    @Nullable
    Instant due(String name) {
        for (Schedule s : schedules) {
            if (s.name.equals(name)) {
                return s.due;
            }
        }
        return null;
    }
}
