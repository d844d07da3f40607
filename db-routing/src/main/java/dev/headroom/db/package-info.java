/**
 * Read/write DataSource routing aware of replication lag, read-your-writes, and shard resolution.
 *
 * <p>Not yet implemented: this module is in the build so that every artifact exists from the start;
 * its API arrives with its own issue (see DESIGN.md).
 */
@NullMarked
package dev.headroom.db;

import org.jspecify.annotations.NullMarked;
