/** Implementation detail of {@code dev.headroom.queue}; not API. */
@NullMarked
package dev.headroom.queue.internal;

import org.jspecify.annotations.NullMarked;
