/** The PostgreSQL {@link dev.headroom.queue.JobStore}: {@link dev.headroom.queue.postgres.PostgresJobStore}. */
@NullMarked
package dev.headroom.queue.postgres;

import org.jspecify.annotations.NullMarked;
