/** Implementation detail of {@code dev.headroom.db}; not API. */
@NullMarked
package dev.headroom.db.internal;

import org.jspecify.annotations.NullMarked;
